//! The one event every peer carries, and the checksum that proves a consumer saw
//! every event exactly once.

/// 16 bytes: a value to check and the intended send time (latency runs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// Producer `p` sends values `0..per_producer`.
    pub value: u64,
    /// Nanoseconds since the run's epoch when the event was meant to be sent.
    pub sent_ns: u64,
}

/// What a consumer saw: how many events and the wrapping sum of their values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checksum {
    /// Events seen.
    pub count: u64,
    /// Wrapping sum of their values.
    pub sum: u64,
}

impl Checksum {
    /// Adds one event.
    #[inline]
    pub fn add(&mut self, event: &Event) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(event.value);
    }

    /// What a consumer of `producers` producers sending `per_producer` events each
    /// must end with.
    pub fn expected(producers: u64, per_producer: u64) -> Self {
        let one = per_producer.wrapping_mul(per_producer.wrapping_sub(1)) / 2;
        Self {
            count: producers * per_producer,
            sum: one.wrapping_mul(producers),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_matches_a_direct_sum() {
        let mut checksum = Checksum::default();
        for _producer in 0..3 {
            for value in 0..1000 {
                checksum.add(&Event { value, sent_ns: 0 });
            }
        }
        assert_eq!(checksum, Checksum::expected(3, 1000));
    }
}
