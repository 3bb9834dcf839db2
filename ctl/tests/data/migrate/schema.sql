-- The postfixadmin tables as setup-classic.sh creates them.
CREATE TABLE IF NOT EXISTS domain (
  domain varchar(255) NOT NULL,
  description varchar(255) NOT NULL DEFAULT '',
  aliases int NOT NULL DEFAULT 0,
  mailboxes int NOT NULL DEFAULT 0,
  maxquota bigint NOT NULL DEFAULT 0,
  quota bigint NOT NULL DEFAULT 0,
  transport varchar(255) NOT NULL DEFAULT '',
  backupmx tinyint(1) NOT NULL DEFAULT 0,
  created datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
  modified datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
  active tinyint(1) NOT NULL DEFAULT 1,
  PRIMARY KEY (domain)
) ENGINE=InnoDB COMMENT='Postfix Admin - Virtual Domains';
CREATE TABLE IF NOT EXISTS mailbox (
  username varchar(255) NOT NULL,
  password varchar(255) NOT NULL,
  name varchar(255) NOT NULL DEFAULT '',
  maildir varchar(255) NOT NULL DEFAULT '',
  quota bigint NOT NULL DEFAULT 0,
  local_part varchar(255) NOT NULL,
  domain varchar(255) NOT NULL,
  created datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
  modified datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
  active tinyint(1) NOT NULL DEFAULT 1,
  PRIMARY KEY (username),
  KEY domain (domain)
) ENGINE=InnoDB COMMENT='Postfix Admin - Virtual Mailboxes';
CREATE TABLE IF NOT EXISTS alias (
  address varchar(255) NOT NULL,
  goto text NOT NULL,
  domain varchar(255) NOT NULL,
  created datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
  modified datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
  active tinyint(1) NOT NULL DEFAULT 1,
  PRIMARY KEY (address),
  KEY domain (domain)
) ENGINE=InnoDB COMMENT='Postfix Admin - Virtual Aliases';
