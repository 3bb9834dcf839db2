-- Greylisting (mailroom-mta's `greylist`) for the embedded default: same tables and meanings
-- as sql/mariadb's.

CREATE TABLE IF NOT EXISTS mailroom_greylist (
  client_net TEXT NOT NULL,
  sender TEXT NOT NULL,
  recipient TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  PRIMARY KEY (client_net, sender, recipient)
);
CREATE INDEX IF NOT EXISTS mailroom_greylist_last_seen ON mailroom_greylist (last_seen);

CREATE TABLE IF NOT EXISTS mailroom_greylist_clients (
  client TEXT NOT NULL PRIMARY KEY,
  passes INTEGER NOT NULL,
  last_seen INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS mailroom_greylist_clients_last_seen ON mailroom_greylist_clients (last_seen);
