"""The ledger is append-only: PostgreSQL refuses UPDATE and DELETE on transactions and
postings (a correction is a new transaction). TRUNCATE (test database flushes) still works."""

from django.db import migrations

TABLES = ("payments_ledgertransaction", "payments_ledgerposting")

FUNCTION = """
CREATE OR REPLACE FUNCTION payments_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)  # no placeholders: keep the % signs
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION payments_ledger_append_only()")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS payments_ledger_append_only()")


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_wallet_ledger")]
    operations = [migrations.RunPython(forwards, backwards)]
