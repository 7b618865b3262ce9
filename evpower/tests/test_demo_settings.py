"""The demo's settings: the environment scripts/run.sh leaves for other shells, and what the
SQLite demo does not warn about."""

import json

from evpower.tests.settings_import import import_settings_with

PRINT = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'redis': s.REDIS_URL, 'layer': s.CHANNEL_LAYERS['default']"
    "['BACKEND'], 'silenced': getattr(s, 'SILENCED_SYSTEM_CHECKS', [])}))"
)


def settings_with(**env) -> dict:
    done = import_settings_with(PRINT, **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_another_shell_reads_the_running_demos_environment(tmp_path):
    """Slow (3-14 s): three fresh interpreters import the settings, as other shells would."""
    demo_env = tmp_path / "demo.env"
    demo_env.write_text("# written by scripts/run.sh\nREDIS_URL=redis://127.0.0.1:6379/1\n")

    seen = settings_with(EVPOWER_DEMO_ENV_FILE=str(demo_env), REDIS_URL="")
    fresh = settings_with(EVPOWER_DEMO_ENV_FILE=str(demo_env), REDIS_URL=None)
    production = settings_with(
        EVPOWER_DEMO_ENV_FILE=str(demo_env),
        REDIS_URL=None,
        EVPOWER_ENV="production",
        SECRET_KEY="k" * 25 + "Q7#x" * 7,
        ALLOWED_HOSTS="evpower.example",
        SMS_BACKEND="accounts.sms.http.HttpJsonBackend",
        SMS_HTTP_URL="https://sms.example/send",
        SMS_HTTP_TOKEN="gateway-token",
    )

    assert seen["redis"] == ""  # a variable the shell sets (even empty) wins
    assert fresh["redis"] == "redis://127.0.0.1:6379/1"
    assert fresh["layer"] == "channels_redis.core.RedisChannelLayer"
    assert production["redis"] == ""  # production never reads it


def test_no_demo_running_means_the_in_memory_layer(tmp_path):
    seen = settings_with(EVPOWER_DEMO_ENV_FILE=str(tmp_path / "absent.env"), REDIS_URL=None)
    assert (seen["redis"], seen["layer"]) == ("", "evpower.channel_layer.ProcessLocalChannelLayer")


def test_the_sqlite_demo_does_not_warn_about_a_postgresql_only_constraint(tmp_path):
    sqlite = settings_with(DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    postgres = settings_with(DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres")
    assert sqlite["silenced"] == ["models.W047"]
    assert postgres["silenced"] == []


def test_the_root_url_is_a_landing_page_linking_admin_docs_and_health(client):
    response = client.get("/")

    assert response.status_code == 200
    page = response.content.decode()
    for link in (
        'href="/admin/"',
        'href="/api/docs/"',
        'href="/api/schema/"',
        'href="/health/ready"',
    ):
        assert link in page
    assert client.post("/").status_code == 405  # a page to read, nothing more
