//! Child processes whose stderr is read while their stdout streams: read
//! as it comes, as a full pipe would stop the program.

use std::io::Read;
use std::process::Child;
use std::thread::JoinHandle;

/// What `child` writes on stderr (which must be piped), read in a thread
/// of its own until it closes.
pub fn collect_stderr(child: &mut Child) -> JoinHandle<String> {
    let mut pipe = child.stderr.take().expect("stderr is piped");
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}
