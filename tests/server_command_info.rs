//! `COMMAND INFO` of every command and subcommand shardis implements (as its
//! `COMMAND LIST` names them) must equal a real redis-server's, byte for byte, in RESP2
//! and RESP3: flags, key positions, ACL categories, tips and key specs. Redis lists a
//! container's subcommands in its dict's order, random per process, so that one
//! array is compared as a multiset (each subcommand is also compared on its own).

mod common;

use common::{Raw, Server};

/// One RESP element: its header line (or whole scalar) and its children.
struct Node {
    head: Vec<u8>,
    children: Vec<Node>,
}

impl Node {
    fn parse(b: &[u8], i: &mut usize) -> Node {
        let end = *i + b[*i..].windows(2).position(|w| w == b"\r\n").unwrap() + 2;
        let line = &b[*i..end];
        let n = || -> i64 {
            std::str::from_utf8(&line[1..line.len() - 2])
                .unwrap()
                .parse()
                .unwrap()
        };
        *i = end;
        let mut node = Node {
            head: line.to_vec(),
            children: Vec::new(),
        };
        match line[0] {
            b'$' | b'=' | b'!' if n() >= 0 => {
                let len = n() as usize + 2;
                node.head.extend_from_slice(&b[*i..*i + len]);
                *i += len;
            }
            b'*' | b'~' | b'>' | b'%' => {
                let count = if line[0] == b'%' { n() * 2 } else { n() };
                for _ in 0..count.max(0) {
                    node.children.push(Node::parse(b, i));
                }
            }
            _ => {}
        }
        node
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head);
        self.children.iter().for_each(|c| c.write(out));
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }
}

/// A `COMMAND INFO name` reply with the subcommands (element 10) sorted.
fn normalized(reply: &[u8]) -> Vec<u8> {
    let mut root = Node::parse(reply, &mut 0);
    for entry in &mut root.children {
        if let Some(subs) = entry.children.get_mut(9) {
            subs.children.sort_by_key(Node::bytes);
        }
    }
    root.bytes()
}

#[test]
fn command_info_of_every_implemented_command_matches_redis() {
    let Some(redis) = common::start_redis() else {
        return;
    };
    let server = Server::start("dual", &[]);
    let mut ours = Raw::connect(server.port);
    let mut theirs = Raw::connect(redis.port);

    let list = ours.cmd(&[b"COMMAND", b"LIST"]);
    let root = Node::parse(&list, &mut 0);
    let names: Vec<Vec<u8>> = root
        .children
        .iter()
        .map(|n| {
            let h = &n.head;
            let body = &h[h.iter().position(|&c| c == b'\n').unwrap() + 1..h.len() - 2];
            body.to_vec()
        })
        .collect();
    assert!(names.len() > 200, "COMMAND LIST names {}", names.len());

    let mut mismatches = Vec::new();
    for proto in [b"2", b"3"] {
        ours.cmd(&[b"HELLO", proto]);
        theirs.cmd(&[b"HELLO", proto]);
        for name in &names {
            let args: [&[u8]; 3] = [b"COMMAND", b"INFO", name];
            let a = normalized(&theirs.cmd(&args));
            let b = normalized(&ours.cmd(&args));
            if a != b {
                mismatches.push(format!(
                    "RESP{} {}:\n  redis   {:?}\n  shardis {:?}",
                    proto[0] as char,
                    String::from_utf8_lossy(name),
                    String::from_utf8_lossy(&a),
                    String::from_utf8_lossy(&b)
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} COMMAND INFO replies differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
