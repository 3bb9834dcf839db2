-- Indexes for mailroom-web's paged lists (postfixadmin's tables unchanged): SQLite's index on
-- `domain` alone carries only the rowid, so a domain's mailboxes by address were sorted in
-- full on every page, and its aliases (rows that are not a mailbox's self-alias, i.e.
-- `address <> goto`) were found by reading every alias row of the domain. The partial index
-- holds just those rows, in address order, for the alias list and its count. MariaDB needs
-- neither: InnoDB's `domain` keys already end in the primary key (domain, username/address).

CREATE INDEX IF NOT EXISTS mailbox_domain_username ON mailbox (domain, username);
CREATE INDEX IF NOT EXISTS alias_domain_own ON alias (domain, address) WHERE address <> goto;
