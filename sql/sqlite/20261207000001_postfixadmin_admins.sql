-- postfixadmin's admin logins and change log for the embedded default (same columns and
-- meanings as sql/mariadb's).

CREATE TABLE IF NOT EXISTS admin (
  username TEXT NOT NULL COLLATE NOCASE PRIMARY KEY,
  password TEXT NOT NULL,
  superadmin INTEGER NOT NULL DEFAULT 0,
  created TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  modified TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  active INTEGER NOT NULL DEFAULT 1,
  phone TEXT NOT NULL DEFAULT '',
  email_other TEXT NOT NULL DEFAULT '',
  token TEXT NOT NULL DEFAULT '',
  token_validity TEXT NOT NULL DEFAULT '2000-01-01 00:00:00'
);

CREATE TABLE IF NOT EXISTS domain_admins (
  username TEXT NOT NULL COLLATE NOCASE,
  domain TEXT NOT NULL COLLATE NOCASE,
  created TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  active INTEGER NOT NULL DEFAULT 1,
  id INTEGER PRIMARY KEY AUTOINCREMENT
);
CREATE INDEX IF NOT EXISTS domain_admins_username ON domain_admins (username);

CREATE TABLE IF NOT EXISTS log (
  timestamp TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  username TEXT NOT NULL DEFAULT '',
  domain TEXT NOT NULL DEFAULT '',
  action TEXT NOT NULL DEFAULT '',
  data TEXT NOT NULL DEFAULT '',
  id INTEGER PRIMARY KEY AUTOINCREMENT
);
CREATE INDEX IF NOT EXISTS log_domain_timestamp ON log (domain, timestamp);
