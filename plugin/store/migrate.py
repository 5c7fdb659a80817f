"""Upgrading a store made by an older entityscan, in the transaction that opens it.

Most changes are added columns (`schema.LATER_COLUMNS`).  Schema 3 also changed the device
registry's identity from the device key to (site, key): a device keyed by its address exists
once per site.  A primary key cannot be changed in place on SQLite, so there the old table is
moved aside, the new one created and the rows copied (all into the site `default`);
PostgreSQL changes the key in place.  Run before `create_all`, which then creates what is
missing.
"""

from __future__ import annotations

from sqlalchemy import Connection, inspect

OLD_DEVICES = "devices_before_sites"


def devices_by_site(conn: Connection) -> None:
    """Give an old `devices` table its `site` column and (site, key) key; a no-op otherwise."""
    inspector = inspect(conn)
    if not inspector.has_table("devices"):
        return
    if "site" in {c["name"] for c in inspector.get_columns("devices")}:
        return
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ALTER TABLE devices ADD COLUMN site VARCHAR(64) NOT NULL "
                             "DEFAULT 'default'")
        conn.exec_driver_sql("ALTER TABLE devices DROP CONSTRAINT devices_pkey")
        conn.exec_driver_sql("ALTER TABLE devices ADD PRIMARY KEY (site, key)")
        return
    # SQLite: index names are global, so the old index goes before the new table takes it
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_devices_verdict")
    conn.exec_driver_sql(f"ALTER TABLE devices RENAME TO {OLD_DEVICES}")
    from entityscan.store.schema import devices

    devices.create(conn)
    columns = [c["name"] for c in inspect(conn).get_columns(OLD_DEVICES)]
    names = ", ".join(columns)  # the old table's own column names, never input
    conn.exec_driver_sql(f"INSERT INTO devices (site, {names}) SELECT 'default', {names} "  # noqa: S608
                         f"FROM {OLD_DEVICES}")
    conn.exec_driver_sql(f"DROP TABLE {OLD_DEVICES}")
