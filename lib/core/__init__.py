"""The ground floor: config, the one clock, errors, the store (engine, migrations, bulk loads), reads
(``db.run``), formats, UI texts (``i18n.t``), number and date parsing (``values``), and the app's own tables
(``core.tables``). Imports nothing else from lib.
"""
