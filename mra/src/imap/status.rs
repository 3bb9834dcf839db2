//! STATUS data items (RFC 3501 §6.3.10, RFC 9051 §6.3.11): the ones imap-codec 1.0 knows plus
//! SIZE (RFC 8438, part of IMAP4rev2), DELETED-STORAGE (RFC 9208) and HIGHESTMODSEQ (RFC
//! 7162), which it does not, so STATUS and LIST's `RETURN (STATUS (...))` are read here when
//! imap-codec refuses them.

use imap_codec::imap_types::status::StatusDataItemName;

use super::args::Arg;

/// One STATUS data item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    /// MESSAGES.
    Messages,
    /// RECENT (IMAP4rev1 only).
    Recent,
    /// UIDNEXT.
    UidNext,
    /// UIDVALIDITY.
    UidValidity,
    /// UNSEEN.
    Unseen,
    /// DELETED: messages with `\Deleted`.
    Deleted,
    /// DELETED-STORAGE: KiB an EXPUNGE would free.
    DeletedStorage,
    /// SIZE: the sum of the messages' RFC822.SIZE.
    Size,
    /// HIGHESTMODSEQ (RFC 7162; 0 for a mailbox without mod-sequences).
    HighestModSeq,
}

impl StatusItem {
    /// The item's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            StatusItem::Messages => "MESSAGES",
            StatusItem::Recent => "RECENT",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::Deleted => "DELETED",
            StatusItem::DeletedStorage => "DELETED-STORAGE",
            StatusItem::Size => "SIZE",
            StatusItem::HighestModSeq => "HIGHESTMODSEQ",
        }
    }

    /// The item of an upper-case name.
    fn from_name(name: &str) -> Option<StatusItem> {
        use StatusItem::*;
        [Messages, Recent, UidNext, UidValidity, Unseen, Deleted, DeletedStorage, Size, HighestModSeq]
            .into_iter()
            .find(|i| i.name() == name)
    }

    /// The item imap-codec parsed.
    pub fn from_codec(item: &StatusDataItemName) -> StatusItem {
        match item {
            StatusDataItemName::Messages => StatusItem::Messages,
            StatusDataItemName::Recent => StatusItem::Recent,
            StatusDataItemName::UidNext => StatusItem::UidNext,
            StatusDataItemName::UidValidity => StatusItem::UidValidity,
            StatusDataItemName::Unseen => StatusItem::Unseen,
            StatusDataItemName::Deleted => StatusItem::Deleted,
            StatusDataItemName::DeletedStorage => StatusItem::DeletedStorage,
        }
    }
}

/// The items of a parenthesised list; at least one, each known.
pub fn parse_items(arg: &Arg) -> Result<Vec<StatusItem>, &'static str> {
    let Arg::List(items) = arg else { return Err("STATUS items must be a list") };
    if items.is_empty() {
        return Err("No STATUS items");
    }
    items
        .iter()
        .map(|a| a.keyword().and_then(|k| StatusItem::from_name(&k)).ok_or("Unknown STATUS item"))
        .collect()
}

/// `STATUS mailbox (items)`: the mailbox name as sent and the items.
pub fn parse_command(args: &[Arg]) -> Result<(Vec<u8>, Vec<StatusItem>), &'static str> {
    match args {
        [mailbox, items] => {
            let name = mailbox.astring().ok_or("Invalid mailbox name")?.to_vec();
            Ok((name, parse_items(items)?))
        }
        _ => Err("STATUS takes a mailbox and a list of items"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::args::{after_name, plain};

    fn parse(cmd: &str) -> Result<(Vec<u8>, Vec<StatusItem>), &'static str> {
        parse_command(&plain(after_name(cmd.as_bytes(), 1)?))
    }

    #[test]
    fn items_with_size() {
        let (name, items) =
            parse("a STATUS INBOX (messages SIZE deleted-storage HighestModSeq)\r\n").unwrap();
        assert_eq!(name, b"INBOX");
        assert_eq!(
            items,
            [StatusItem::Messages, StatusItem::Size, StatusItem::DeletedStorage, StatusItem::HighestModSeq]
        );
        for bad in [
            "a STATUS INBOX ()\r\n",
            "a STATUS INBOX (FOO)\r\n",
            "a STATUS INBOX SIZE\r\n",
            "a STATUS INBOX\r\n",
            "a STATUS (SIZE) INBOX\r\n",
            "a STATUS INBOX (SIZE) x\r\n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
