//! One direction of a link: bytes in flight, each chunk with the virtual
//! time it arrives.

use std::{collections::VecDeque, task::Waker, time::Duration};

use bytes::Bytes;

/// What a read found.
pub(crate) enum Readable {
    /// Bytes that have arrived (at most what was asked for).
    Data(Bytes),
    /// The writer closed and everything it sent was read.
    End,
    /// The link was cut, or the writer's end is gone after a cut.
    Reset,
    /// The next bytes arrive at this time.
    At(Duration),
    /// Nothing in flight.
    Nothing,
}

/// What a write did.
pub(crate) enum Writable {
    /// Accepted this many bytes.
    Took(usize),
    /// The link was cut.
    Reset,
    /// The reading end is gone.
    Gone,
    /// The buffer is full.
    Full,
}

pub(crate) struct Pipe {
    chunks: VecDeque<(Duration, Bytes)>,
    buffered: usize,
    capacity: usize,
    write_closed: bool,
    read_closed: bool,
    reset: bool,
    black_hole: bool,
    stalled_until: Duration,
    /// Arrival time of the last chunk: later chunks never overtake it.
    last_arrival: Duration,
    pub(crate) reader: Option<Waker>,
    pub(crate) writer: Option<Waker>,
    /// The arrival time a timer is already set to wake the reader at.
    pub(crate) armed: Option<Duration>,
}

impl Pipe {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            chunks: VecDeque::new(),
            buffered: 0,
            capacity,
            write_closed: false,
            read_closed: false,
            reset: false,
            black_hole: false,
            stalled_until: Duration::ZERO,
            last_arrival: Duration::ZERO,
            reader: None,
            writer: None,
            armed: None,
        }
    }

    fn wake_both(&mut self) {
        if let Some(w) = self.reader.take() {
            w.wake();
        }
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }

    pub(crate) fn reset(&mut self) {
        self.reset = true;
        self.chunks.clear();
        self.buffered = 0;
        self.wake_both();
    }

    pub(crate) fn black_hole(&mut self) {
        self.black_hole = true;
        self.chunks.clear();
        self.buffered = 0;
        self.wake_both();
    }

    pub(crate) fn stall_until(&mut self, until: Duration) {
        self.stalled_until = self.stalled_until.max(until);
        self.wake_both();
    }

    pub(crate) fn close_write(&mut self) {
        self.write_closed = true;
        self.wake_both();
    }

    pub(crate) fn close_read(&mut self) {
        self.read_closed = true;
        self.chunks.clear();
        self.buffered = 0;
        self.wake_both();
    }

    pub(crate) fn read(&mut self, now: Duration, max: usize) -> Readable {
        if self.reset {
            return Readable::Reset;
        }
        if self.black_hole {
            return Readable::Nothing;
        }
        let Some((arrival, chunk)) = self.chunks.front_mut() else {
            return if self.write_closed {
                Readable::End
            } else {
                Readable::Nothing
            };
        };
        let arrival = (*arrival).max(self.stalled_until);
        if arrival > now {
            return Readable::At(arrival);
        }
        let data = if chunk.len() > max {
            chunk.split_to(max)
        } else {
            self.chunks.pop_front().expect("front exists").1
        };
        self.buffered -= data.len();
        if let Some(w) = self.writer.take() {
            w.wake();
        }
        Readable::Data(data)
    }

    pub(crate) fn write(&mut self, arrival: Duration, data: &[u8]) -> Writable {
        if self.reset {
            return Writable::Reset;
        }
        if self.write_closed {
            return Writable::Gone;
        }
        if self.black_hole {
            return Writable::Took(data.len());
        }
        if self.read_closed {
            return Writable::Gone;
        }
        let room = self.capacity.saturating_sub(self.buffered);
        if room == 0 {
            return Writable::Full;
        }
        let n = room.min(data.len());
        let arrival = arrival.max(self.last_arrival);
        self.last_arrival = arrival;
        self.chunks
            .push_back((arrival, Bytes::copy_from_slice(&data[..n])));
        self.buffered += n;
        if let Some(w) = self.reader.take() {
            w.wake();
        }
        Writable::Took(n)
    }
}
