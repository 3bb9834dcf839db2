//! THREAD (RFC 5256 §2): ORDEREDSUBJECT and REFERENCES over the [`Facts`] of the matching
//! messages, and the `* THREAD` response. No I/O.

use std::collections::HashMap;

use super::sort::Facts;

/// A threading algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// ORDEREDSUBJECT: by base subject, each thread flat under its first message.
    OrderedSubject,
    /// REFERENCES: the message IDs of References/In-Reply-To, then subjects.
    References,
}

impl Algorithm {
    /// Parses the algorithm's name.
    pub fn parse(name: &str) -> Option<Algorithm> {
        match name.to_ascii_uppercase().as_str() {
            "ORDEREDSUBJECT" => Some(Algorithm::OrderedSubject),
            "REFERENCES" => Some(Algorithm::References),
            _ => None,
        }
    }
}

/// A node of the thread forest: a message (its index in the facts) or a dummy.
#[derive(Debug, Clone, Default)]
struct Node {
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

/// The thread forest: nodes in an arena, and the roots.
struct Forest<'f> {
    facts: &'f [Facts],
    nodes: Vec<Node>,
}

impl Forest<'_> {
    fn add(&mut self, msg: Option<usize>) -> usize {
        self.nodes.push(Node { msg, ..Node::default() });
        self.nodes.len() - 1
    }

    /// Whether `a` is `b` or one of its ancestors.
    fn is_ancestor(&self, a: usize, b: usize) -> bool {
        if a != b && self.nodes[a].children.is_empty() {
            // A leaf is nobody's ancestor: no walk up a long chain.
            return false;
        }
        let mut at = Some(b);
        while let Some(n) = at {
            if n == a {
                return true;
            }
            at = self.nodes[n].parent;
        }
        false
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.nodes[child].parent.take() {
            self.nodes[p].children.retain(|&c| c != child);
        }
    }

    fn link(&mut self, parent: usize, child: usize) {
        self.unlink(child);
        self.nodes[child].parent = Some(parent);
        self.nodes[parent].children.push(child);
    }

    /// The (sent date, sequence number) a node sorts by: a dummy's first child's (its
    /// children sorted already).
    fn key(&self, mut n: usize) -> (i64, u32) {
        loop {
            match (self.nodes[n].msg, self.nodes[n].children.first()) {
                (Some(m), _) => return (self.facts[m].sent, self.facts[m].seq),
                (None, Some(&c)) => n = c,
                (None, None) => return (i64::MAX, u32::MAX),
            }
        }
    }

    /// Every node under `list` (not those in it), parents before their children. Without
    /// recursion: a chain of replies may be as long as the mailbox.
    fn descendants(&self, list: &[usize]) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack: Vec<usize> =
            list.iter().rev().flat_map(|&n| self.nodes[n].children.iter().copied()).collect();
        while let Some(n) = stack.pop() {
            out.push(n);
            stack.extend(self.nodes[n].children.iter().copied());
        }
        out
    }

    /// Sorts every sibling list under `list` and then `list`, by sent date, children first.
    fn sort(&mut self, list: &mut [usize]) {
        let under = self.descendants(list);
        for &n in under.iter().rev().chain(list.iter()) {
            let mut children = std::mem::take(&mut self.nodes[n].children);
            children.sort_by_key(|&c| self.key(c));
            self.nodes[n].children = children;
        }
        list.sort_by_key(|&n| self.key(n));
    }

    /// The message whose subject a thread has: its own, or a dummy's first child's.
    fn subject_msg(&self, n: usize) -> Option<usize> {
        match self.nodes[n].msg {
            Some(m) => Some(m),
            None => self.nodes[n].children.first().and_then(|&c| self.nodes[c].msg),
        }
    }

    /// The children of a node (or the root set) with dummies replaced by their children;
    /// at the root (`root`) a dummy with several children stays.
    fn pruned(&mut self, list: Vec<usize>, parent: Option<usize>, root: bool) -> Vec<usize> {
        let mut out = Vec::with_capacity(list.len());
        for n in list {
            let children = &self.nodes[n].children;
            if self.nodes[n].msg.is_none() && (children.is_empty() || !root || children.len() == 1) {
                let children = std::mem::take(&mut self.nodes[n].children);
                for &c in &children {
                    self.nodes[c].parent = parent;
                }
                out.extend(children);
            } else {
                out.push(n);
            }
        }
        out
    }

    /// RFC 5256 REFERENCES step 4: dummies without children go; a dummy's children take its
    /// place, except several at the root. Deepest first, so a dummy's children are final when
    /// it goes.
    fn prune(&mut self, roots: Vec<usize>) -> Vec<usize> {
        for n in self.descendants(&roots).into_iter().rev().chain(roots.iter().copied()) {
            let children = std::mem::take(&mut self.nodes[n].children);
            self.nodes[n].children = self.pruned(children, Some(n), false);
        }
        self.pruned(roots, None, true)
    }

    /// Appends the thread under `n` in RFC 5256's syntax: `n m (a b)(c)`.
    fn write(&self, n: usize, out: &mut String) {
        enum Step {
            Node(usize),
            Text(&'static str),
        }
        let mut stack = vec![Step::Node(n)];
        while let Some(step) = stack.pop() {
            let n = match step {
                Step::Text(t) => {
                    out.push_str(t);
                    continue;
                }
                Step::Node(n) => n,
            };
            let node = &self.nodes[n];
            if let Some(m) = node.msg {
                out.push_str(&self.facts[m].seq.to_string());
            }
            match (node.msg, node.children.as_slice()) {
                (_, []) => {}
                (Some(_), [only]) => {
                    out.push(' ');
                    stack.push(Step::Node(*only));
                }
                (msg, children) => {
                    if msg.is_some() {
                        out.push(' ');
                    }
                    for &c in children.iter().rev() {
                        stack.push(Step::Text(")"));
                        stack.push(Step::Node(c));
                        stack.push(Step::Text("("));
                    }
                }
            }
        }
    }

    fn response(&self, roots: &[usize]) -> String {
        let mut s = String::from("* THREAD ");
        for &r in roots {
            s.push('(');
            self.write(r, &mut s);
            s.push(')');
        }
        s.truncate(s.trim_end().len());
        s
    }
}

/// The `* THREAD ...` line (without CRLF) of the messages `facts`, their numbers being
/// `Facts::seq` (sequence numbers or UIDs).
pub fn thread(facts: &[Facts], algorithm: Algorithm) -> String {
    let mut f = Forest { facts, nodes: Vec::with_capacity(facts.len() * 2) };
    let roots = match algorithm {
        Algorithm::OrderedSubject => ordered_subject(&mut f),
        Algorithm::References => references(&mut f),
    };
    f.response(&roots)
}

/// ORDEREDSUBJECT: sorted by base subject then sent date; each run of one subject is a thread
/// whose first message is the parent of the others; threads by their first message's date.
fn ordered_subject(f: &mut Forest<'_>) -> Vec<usize> {
    let facts = f.facts;
    let mut order: Vec<usize> = (0..facts.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&facts[a], &facts[b]);
        (&x.subject, x.sent, x.seq).cmp(&(&y.subject, y.sent, y.seq))
    });
    let mut roots: Vec<usize> = Vec::new();
    let mut last: Option<(usize, &str)> = None;
    for m in order {
        let n = f.add(Some(m));
        match last {
            Some((root, subject)) if subject == facts[m].subject => f.link(root, n),
            _ => {
                roots.push(n);
                last = Some((n, &facts[m].subject));
            }
        }
    }
    roots.sort_by_key(|&n| f.key(n));
    roots
}

/// REFERENCES (RFC 5256 §2.2's steps 1 to 7).
fn references(f: &mut Forest<'_>) -> Vec<usize> {
    let facts = f.facts;
    // (1) The ID table and the links of each message's references.
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for (m, fact) in facts.iter().enumerate() {
        // (1B) Its own container; a duplicate or missing Message-ID gets a container of its own.
        let own = match fact.message_id.as_deref() {
            Some(id) => match ids.get(id) {
                Some(&n) if f.nodes[n].msg.is_none() => {
                    f.nodes[n].msg = Some(m);
                    n
                }
                Some(_) => f.add(Some(m)),
                None => {
                    let n = f.add(Some(m));
                    ids.insert(id, n);
                    n
                }
            },
            None => f.add(Some(m)),
        };
        // (1A) Link the references in order, parent before child.
        let mut prev: Option<usize> = None;
        for r in &fact.references {
            let n = match ids.get(r.as_str()) {
                Some(&n) => n,
                None => {
                    let n = f.add(None);
                    ids.insert(r, n);
                    n
                }
            };
            if let Some(p) = prev
                && f.nodes[n].parent.is_none()
                && !f.is_ancestor(n, p)
            {
                f.link(p, n);
            }
            prev = Some(n);
        }
        // (1C) The last reference is the parent (or there is none): an older link goes, and
        // the new one is not made if it would close a loop.
        f.unlink(own);
        if let Some(p) = prev.filter(|&p| !f.is_ancestor(own, p)) {
            f.link(p, own);
        }
    }
    // (2) The root set; (3) the ID table is done with.
    let roots: Vec<usize> = (0..f.nodes.len()).filter(|&n| f.nodes[n].parent.is_none()).collect();
    drop(ids);
    // (4) Prune dummies.
    let mut roots = f.prune(roots);
    for &r in &roots {
        f.nodes[r].parent = None;
    }
    // (5) Sort the root set.
    f.sort(&mut roots);
    // (6) Gather threads of one base subject.
    let mut table: HashMap<&str, usize> = HashMap::new();
    for &r in &roots {
        let Some(m) = f.subject_msg(r) else { continue };
        let subject = facts[m].subject.as_str();
        if subject.is_empty() {
            continue;
        }
        let replace = match table.get(subject) {
            None => true,
            Some(&old) => {
                let dummy = f.nodes[r].msg.is_none();
                let old_dummy = f.nodes[old].msg.is_none();
                !old_dummy && (dummy || (f.is_reply(old) && !f.is_reply(r)))
            }
        };
        if replace {
            table.insert(subject, r);
        }
    }
    let mut removed = vec![false; f.nodes.len()];
    let mut merged_roots: Vec<usize> = Vec::with_capacity(roots.len());
    for &r in &roots {
        if removed[r] {
            continue;
        }
        let subject = f.subject_msg(r).map(|m| facts[m].subject.as_str()).unwrap_or_default();
        let Some(&t) = table.get(subject).filter(|_| !subject.is_empty()) else {
            merged_roots.push(r);
            continue;
        };
        if t == r {
            merged_roots.push(r);
            continue;
        }
        let (r_dummy, t_dummy) = (f.nodes[r].msg.is_none(), f.nodes[t].msg.is_none());
        if r_dummy && t_dummy {
            for c in std::mem::take(&mut f.nodes[r].children) {
                f.nodes[c].parent = None;
                f.link(t, c);
            }
        } else if t_dummy || (!f.is_reply(t) && f.is_reply(r)) {
            f.link(t, r);
        } else {
            let d = f.add(None);
            removed.push(false);
            f.link(d, r);
            f.link(d, t);
            f.nodes[t].parent = Some(d);
            table.insert(subject, d);
            // The dummy takes the table entry's place in the root set.
            if let Some(at) = merged_roots.iter().position(|&x| x == t) {
                merged_roots[at] = d;
            } else {
                removed[t] = true;
                merged_roots.push(d);
            }
        }
        removed[r] = true;
    }
    let mut roots: Vec<usize> = merged_roots.into_iter().filter(|&n| f.nodes[n].parent.is_none()).collect();
    // (7) Sort every level by sent date.
    f.sort(&mut roots);
    roots
}

impl Forest<'_> {
    fn is_reply(&self, n: usize) -> bool {
        self.nodes[n].msg.is_some_and(|m| self.facts[m].reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::sort::base_subject;

    fn msg(seq: u32, sent: i64, subject: &str, id: Option<&str>, refs: &[&str]) -> Facts {
        let (subject, reply) = base_subject(subject);
        Facts {
            seq,
            sent,
            subject: subject.to_uppercase(),
            reply,
            message_id: id.map(str::to_string),
            references: refs.iter().map(|s| s.to_string()).collect(),
            ..Facts::default()
        }
    }

    #[test]
    fn ordered_subject_groups_flat() {
        let facts = [
            msg(1, 10, "b", None, &[]),
            msg(2, 5, "a", None, &[]),
            msg(3, 20, "Re: b", None, &[]),
            msg(4, 30, "re: a", None, &[]),
            msg(5, 1, "c", None, &[]),
            msg(6, 40, "B", None, &[]),
        ];
        assert_eq!(thread(&facts, Algorithm::OrderedSubject), "* THREAD (5)(2 4)(1 (3)(6))");
        assert_eq!(thread(&[], Algorithm::OrderedSubject), "* THREAD");
    }

    #[test]
    fn references_chain_and_missing_parents() {
        let facts = [
            msg(1, 1, "x", Some("a"), &[]),
            msg(2, 2, "Re: x", Some("b"), &["a"]),
            msg(3, 3, "Re: x", Some("c"), &["a", "b"]),
            msg(4, 4, "Re: x", Some("d"), &["a"]),
            // Its parent is missing: a dummy with one child, pruned; subject joins it to 1.
            msg(5, 5, "Re: y", Some("e"), &["gone"]),
            // Two children of a missing parent: a dummy at the root stays.
            msg(6, 6, "z", Some("f"), &["lost"]),
            msg(7, 7, "Re: z", Some("g"), &["lost"]),
            msg(8, 0, "y", None, &[]),
        ];
        assert_eq!(thread(&facts, Algorithm::References), "* THREAD (8 5)(1 (2 3)(4))((6)(7))");
    }

    #[test]
    fn references_subject_merging() {
        // Two non-replies with one subject: a dummy above both.
        let facts = [msg(1, 1, "s", Some("a"), &[]), msg(2, 2, "s", Some("b"), &[])];
        assert_eq!(thread(&facts, Algorithm::References), "* THREAD ((1)(2))");
        // A reply joins the non-reply.
        let facts = [msg(1, 2, "Re: s", Some("a"), &[]), msg(2, 1, "s", Some("b"), &[])];
        assert_eq!(thread(&facts, Algorithm::References), "* THREAD (2 1)");
        // No subject: no merging.
        let facts = [msg(1, 1, "", Some("a"), &[]), msg(2, 2, "", Some("b"), &[])];
        assert_eq!(thread(&facts, Algorithm::References), "* THREAD (1)(2)");
    }

    #[test]
    fn references_a_later_message_breaks_an_older_link() {
        // imaptest's `thread`: b refers to a and c, c to b; c's link under a goes.
        let facts = [
            msg(1, 3, "", Some("a@b"), &[]),
            msg(2, 1, "", Some("b@b"), &["a@b", "c@b"]),
            msg(3, 2, "", Some("c@b"), &["b@b"]),
        ];
        assert_eq!(thread(&facts, Algorithm::References), "* THREAD (3 2)(1)");
    }

    #[test]
    fn long_chains_need_no_deep_stack() {
        let ids: Vec<String> = (0..200_000).map(|i| format!("m{i}")).collect();
        let facts: Vec<Facts> = (0..200_000usize)
            .map(|i| Facts {
                seq: i as u32 + 1,
                sent: i as i64,
                message_id: Some(ids[i].clone()),
                references: if i > 0 { vec![ids[i - 1].clone()] } else { vec![] },
                ..Facts::default()
            })
            .collect();
        let out = thread(&facts, Algorithm::References);
        assert!(out.starts_with("* THREAD (1 2 3 "), "{}", &out[..40]);
        assert!(out.ends_with(" 199999 200000)"));
    }

    #[test]
    fn references_loops_and_duplicates() {
        let facts = [
            msg(1, 1, "p", Some("a"), &["b"]),
            msg(2, 2, "q", Some("b"), &["a"]),
            msg(3, 3, "r", Some("a"), &[]),
            msg(4, 4, "s", Some("c"), &["c"]),
        ];
        // 1 under b (dummy, then 2); 2 would loop under 1: stays a root... its own references
        // say a, the link is refused; the duplicate "a" is a message of its own.
        let out = thread(&facts, Algorithm::References);
        assert!(out.starts_with("* THREAD "), "{out}");
        for n in 1..=4 {
            assert!(out.contains(&n.to_string()), "{out}");
        }
    }
}
