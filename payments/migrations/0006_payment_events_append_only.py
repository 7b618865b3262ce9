"""The payment event log is append-only, like the ledger (0002): PostgreSQL refuses UPDATE
and DELETE on it. TRUNCATE (test database flushes) still works."""

from django.db import migrations

TABLE = "payments_paymentevent"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # the function comes from 0002 and names the table in its message
    schema_editor.execute(
        f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
        f"FOR EACH ROW EXECUTE FUNCTION payments_ledger_append_only()")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")


class Migration(migrations.Migration):
    dependencies = [("payments", "0005_payments_topups")]
    operations = [migrations.RunPython(forwards, backwards)]
