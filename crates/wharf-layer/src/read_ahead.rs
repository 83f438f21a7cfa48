//! A reader on another thread: decompressing and hashing a layer on one core while the
//! tar is applied on another. Applying a large layer is otherwise one core inflating,
//! hashing and creating files in turn (each about half of the time).
//!
//! Memory stays bounded: a few fixed buffers circulate between the two threads.

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};

/// Bytes per buffer, and buffers in flight.
const BUFFER: usize = 256 * 1024;
const IN_FLIGHT: usize = 4;

/// The reading end, used on the consuming thread.
pub struct Pipe {
    full: Receiver<io::Result<Vec<u8>>>,
    empty: Sender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    done: bool,
}

/// The writing end, moved to the producing thread.
pub struct Producer {
    full: SyncSender<io::Result<Vec<u8>>>,
    empty: Receiver<Vec<u8>>,
    made: usize,
}

pub fn pipe() -> (Pipe, Producer) {
    let (full_tx, full_rx) = mpsc::sync_channel(IN_FLIGHT);
    let (empty_tx, empty_rx) = mpsc::channel();
    (
        Pipe {
            full: full_rx,
            empty: empty_tx,
            current: Vec::new(),
            pos: 0,
            done: false,
        },
        Producer {
            full: full_tx,
            empty: empty_rx,
            made: 0,
        },
    )
}

impl Producer {
    /// Moves everything `reader` yields into the pipe. A read error reaches the pipe's
    /// reader as its own error (and is returned here too); a pipe whose reader is gone
    /// ends this early with `BrokenPipe`.
    pub fn fill_from<R: Read>(mut self, reader: &mut R) -> io::Result<()> {
        loop {
            let mut buf = self.buffer();
            let (n, failed) = read_full(reader, &mut buf);
            if n > 0 {
                buf.truncate(n);
                if self.full.send(Ok(buf)).is_err() {
                    return Err(io::ErrorKind::BrokenPipe.into());
                }
            }
            if let Some(e) = failed {
                let copy = io::Error::new(e.kind(), e.to_string());
                let _ = self.full.send(Err(copy));
                return Err(e);
            }
            if n == 0 {
                return Ok(());
            }
        }
    }

    /// A returned buffer, or a new one while fewer than can be in flight exist.
    fn buffer(&mut self) -> Vec<u8> {
        let mut buf = match self.empty.try_recv() {
            Ok(buf) => buf,
            Err(_) if self.made < IN_FLIGHT + 2 => {
                self.made += 1;
                Vec::with_capacity(BUFFER)
            }
            // All in flight: wait for the reader to hand one back.
            Err(_) => self
                .empty
                .recv()
                .unwrap_or_else(|_| Vec::with_capacity(BUFFER)),
        };
        buf.resize(BUFFER, 0);
        buf
    }
}

/// Reads until `buf` is full, the stream ends or fails: the bytes read, and the error
/// that stopped it (after those bytes).
fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return (filled, Some(e)),
        }
    }
    (filled, None)
}

impl Read for Pipe {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            if self.done {
                return Ok(0);
            }
            match self.full.recv() {
                Ok(Ok(buf)) => {
                    let used = std::mem::replace(&mut self.current, buf);
                    self.pos = 0;
                    if used.capacity() > 0 {
                        let _ = self.empty.send(used);
                    }
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                // The producer finished (or stopped): everything sent was read.
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader yielding `len` bytes in odd-sized pieces, then maybe an error.
    struct Source {
        left: usize,
        fail: bool,
        next: u8,
    }

    impl Read for Source {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.left == 0 {
                return if self.fail {
                    Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "corrupt deflate",
                    ))
                } else {
                    Ok(0)
                };
            }
            let n = out.len().min(self.left).min(7919);
            for b in &mut out[..n] {
                *b = self.next;
                self.next = self.next.wrapping_add(1);
            }
            self.left -= n;
            Ok(n)
        }
    }

    fn run(len: usize, fail: bool) -> (io::Result<Vec<u8>>, io::Result<()>) {
        std::thread::scope(|scope| {
            let (mut pipe, producer) = pipe();
            let producer = scope.spawn(move || {
                producer.fill_from(&mut Source {
                    left: len,
                    fail,
                    next: 0,
                })
            });
            let mut got = Vec::new();
            let read = pipe.read_to_end(&mut got).map(|_| got);
            (read, producer.join().expect("no panic"))
        })
    }

    #[test]
    fn passes_every_byte_in_order_across_many_buffers() {
        let len = BUFFER * (IN_FLIGHT * 3) + 12345;
        let (read, produced) = run(len, false);
        let got = read.unwrap();
        produced.unwrap();
        assert_eq!(got.len(), len);
        assert!(got.iter().enumerate().all(|(i, &b)| b == i as u8));
    }

    #[test]
    fn an_empty_stream_reads_as_empty() {
        let (read, produced) = run(0, false);
        assert!(read.unwrap().is_empty());
        produced.unwrap();
    }

    #[test]
    fn a_read_error_reaches_the_reader_after_the_bytes_before_it() {
        std::thread::scope(|scope| {
            let (mut pipe, producer) = pipe();
            let len = BUFFER + 5000;
            scope.spawn(move || {
                let _ = producer.fill_from(&mut Source {
                    left: len,
                    fail: true,
                    next: 0,
                });
            });
            let mut got = vec![0u8; len];
            pipe.read_exact(&mut got).unwrap();
            assert!(got.iter().enumerate().all(|(i, &b)| b == i as u8));
            let err = pipe.read(&mut [0u8; 10]).unwrap_err();
            assert!(err.to_string().contains("corrupt deflate"), "{err}");
        });
        let (read, produced) = run(BUFFER * 2, true);
        let err = read.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("corrupt deflate"), "{err}");
        assert_eq!(produced.unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_reader_that_stops_early_stops_the_producer() {
        std::thread::scope(|scope| {
            let (mut pipe, producer) = pipe();
            let producer = scope.spawn(move || {
                producer.fill_from(&mut Source {
                    left: usize::MAX,
                    fail: false,
                    next: 0,
                })
            });
            let mut first = [0u8; 100];
            pipe.read_exact(&mut first).unwrap();
            drop(pipe);
            let err = producer.join().expect("no panic").unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        });
    }
}
