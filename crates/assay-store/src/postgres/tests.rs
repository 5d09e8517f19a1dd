//! Tests only PostgreSQL has: several hosts on one database, migrations, lost connections.
