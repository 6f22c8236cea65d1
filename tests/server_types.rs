//! redis-py's own calls for geo, HyperLogLog, SORT, MEMORY and LOLWUT (issue 19),
//! in both runtimes, keys on several shards (tests/py/types.py).

mod common;

use common::{redis_py, Server, RUNTIMES};

#[test]
fn redis_py_geo_hll_sort_memory() {
    for runtime in RUNTIMES {
        let server = Server::start(runtime, &[]);
        redis_py("types.py", server.port, runtime);
    }
}
