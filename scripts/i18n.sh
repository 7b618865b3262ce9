#!/usr/bin/env bash
# The admin's Russian catalogue: ./scripts/i18n.sh
#
# 1. makemessages collects every translatable string of the project into
#    locale/ru/LC_MESSAGES/django.po: new msgids arrive with an empty msgstr, reworded ones
#    as "#, fuzzy" guesses, and strings gone from the code are dropped.
# 2. compilemessages turns it into django.mo, which is committed too (a fresh machine, or
#    the Docker image, needs no gettext).
#
# After running it, translate what is new (search the .po for `msgstr ""` followed by an
# empty line, and for "fuzzy"; remove the fuzzy flag once the text is right), then run it
# again. evpower/tests/test_admin_i18n.py fails while anything is untranslated, fuzzy, or
# the .mo is stale. Needs GNU gettext (apt-get install gettext).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/_venv.sh

# no database is opened; this only keeps settings from wanting one
export DATABASE_URL="${DATABASE_URL:-sqlite:////tmp/evpower-i18n.sqlite3}"

# third-party code ships its own catalogues; collected static files are copies
IGNORE=(--ignore=.venv --ignore=staticfiles --ignore=static --ignore=node_modules)

po=locale/ru/LC_MESSAGES/django.po
before=$(mktemp)
trap 'rm -f "$before"' EXIT
[[ -f $po ]] && cp "$po" "$before"

.venv/bin/python manage.py makemessages --locale=ru --domain=django --no-obsolete \
    --add-location=file "${IGNORE[@]}"
# nothing but the extraction date changed: keep the file as it was (no noise in the diff)
if [[ -s $before ]] && diff -q <(grep -v '^"POT-Creation-Date: ' "$before") \
        <(grep -v '^"POT-Creation-Date: ' "$po") >/dev/null; then
    cp "$before" "$po"
fi
.venv/bin/python manage.py compilemessages --locale=ru "${IGNORE[@]}"

untranslated=$(msgattrib --untranslated --no-obsolete "$po" | grep -c '^msgid ' || true)
fuzzy=$(msgattrib --only-fuzzy --no-obsolete "$po" | grep -c '^msgid ' || true)
# msgattrib prints the header entry too when there is anything to print
echo "$po: untranslated $(( untranslated > 0 ? untranslated - 1 : 0 )), fuzzy $(( fuzzy > 0 ? fuzzy - 1 : 0 ))"
