-- Least-privilege accounts for mailroom on MariaDB (DESIGN §3).
--
--   mailroom_lookup  every daemon that only looks users up (mta, mda, mra): SELECT on the
--                    four tables, but on mailbox every column except `password`; and the
--                    MTA's greylisting tables, which it writes.
--   mailroom_auth    mailroom-saslauthd alone: may also read `mailbox.password`.
--
-- The database is called `mailroom` here; for an existing postfixadmin database, substitute
-- its name, and set real passwords, e.g.:
--   sed 's/`mailroom`\./`postfix`./; s/@LOOKUP_PASSWORD@/.../; s/@AUTH_PASSWORD@/.../' \
--       sql/mariadb/grants.sql | mariadb
-- Writes (mailroomctl user add ...) need an admin account of your own; these two cannot write.

CREATE USER IF NOT EXISTS 'mailroom_lookup'@'localhost' IDENTIFIED BY '@LOOKUP_PASSWORD@';
CREATE USER IF NOT EXISTS 'mailroom_auth'@'localhost' IDENTIFIED BY '@AUTH_PASSWORD@';

GRANT SELECT ON `mailroom`.`domain` TO 'mailroom_lookup'@'localhost';
GRANT SELECT ON `mailroom`.`alias` TO 'mailroom_lookup'@'localhost';
GRANT SELECT ON `mailroom`.`alias_domain` TO 'mailroom_lookup'@'localhost';
GRANT SELECT (`username`, `name`, `maildir`, `quota`, `local_part`, `domain`, `created`,
              `modified`, `active`) ON `mailroom`.`mailbox` TO 'mailroom_lookup'@'localhost';
GRANT SELECT, INSERT, UPDATE, DELETE ON `mailroom`.`mailroom_greylist` TO 'mailroom_lookup'@'localhost';
GRANT SELECT, INSERT, UPDATE, DELETE ON `mailroom`.`mailroom_greylist_clients`
      TO 'mailroom_lookup'@'localhost';

GRANT SELECT ON `mailroom`.`domain` TO 'mailroom_auth'@'localhost';
GRANT SELECT ON `mailroom`.`alias` TO 'mailroom_auth'@'localhost';
GRANT SELECT ON `mailroom`.`alias_domain` TO 'mailroom_auth'@'localhost';
GRANT SELECT ON `mailroom`.`mailbox` TO 'mailroom_auth'@'localhost';
