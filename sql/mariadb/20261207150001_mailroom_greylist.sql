-- Greylisting (mailroom-mta's `greylist`), postgrey's two databases as tables, shared by every
-- MTA on this database:
--   mailroom_greylist          one row per triplet: client network (/24, /64), normalised
--                              sender, recipient; when first and last seen (Unix seconds)
--   mailroom_greylist_clients  postgrey's auto-whitelist: passes per client address (counted
--                              at most once an hour) and when last counted
-- The MTA lowercases every key itself.

CREATE TABLE IF NOT EXISTS `mailroom_greylist` (
  `client_net` varchar(64) NOT NULL,
  `sender` varchar(320) NOT NULL,
  `recipient` varchar(320) NOT NULL,
  `first_seen` bigint NOT NULL,
  `last_seen` bigint NOT NULL,
  PRIMARY KEY (`client_net`, `sender`, `recipient`),
  KEY `last_seen` (`last_seen`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='mailroom - greylisting triplets';

CREATE TABLE IF NOT EXISTS `mailroom_greylist_clients` (
  `client` varchar(64) NOT NULL,
  `passes` bigint NOT NULL,
  `last_seen` bigint NOT NULL,
  PRIMARY KEY (`client`),
  KEY `last_seen` (`last_seen`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='mailroom - greylisting auto-whitelist';
