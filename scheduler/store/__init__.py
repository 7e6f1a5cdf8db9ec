"""The only code with a database connection: the store, schema, migrations, fast SQL path."""
