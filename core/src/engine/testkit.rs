//! Tests of an aggregate's rules without an engine or a directory: given these
//! events happened, when this command is decided, then these events follow (or
//! this rejection). The events are applied with the aggregate's own `apply`, and
//! the command decided with its own `decide`, exactly as the engine does.
//!
//! ```
//! use seqlane::testkit::AggregateTest;
//! use seqlane::Aggregate;
//!
//! #[derive(Default)]
//! struct Account { balance: u64 }
//!
//! #[derive(Clone, Debug, PartialEq)]
//! enum Event { Deposited(u64), Withdrew(u64) }
//!
//! impl Aggregate for Account {
//!     type Command = Event; // the command is the event it asks for, to keep this short
//!     type Event = Event;
//!     type Rejection = &'static str;
//!
//!     fn decide(&self, command: &Event, events: &mut Vec<Event>) -> Result<(), &'static str> {
//!         if let Event::Withdrew(amount) = command {
//!             if *amount > self.balance {
//!                 return Err("insufficient funds");
//!             }
//!         }
//!         events.push(command.clone());
//!         Ok(())
//!     }
//!
//!     fn apply(&mut self, event: &Event) {
//!         match event {
//!             Event::Deposited(amount) => self.balance += amount,
//!             Event::Withdrew(amount) => self.balance -= amount,
//!         }
//!     }
//! }
//!
//! AggregateTest::<Account>::given([Event::Deposited(10)])
//!     .when(Event::Withdrew(4))
//!     .then_expect_events([Event::Withdrew(4)]);
//! AggregateTest::<Account>::given([Event::Deposited(10)])
//!     .when(Event::Withdrew(40))
//!     .then_expect_rejection("insufficient funds");
//! let then = AggregateTest::<Account>::given_no_events().when(Event::Deposited(3));
//! assert_eq!(then.state().balance, 3); // the events are applied
//! ```

use std::fmt;

use crate::engine::domain::Aggregate;

/// The state an aggregate test starts from: built by applying the given events.
pub struct AggregateTest<A: Aggregate> {
    state: A,
}

impl<A: Aggregate + Default> AggregateTest<A> {
    /// Starts from the default state with `events` applied, in order.
    pub fn given(events: impl IntoIterator<Item = A::Event>) -> Self {
        Self::given_state(A::default(), events)
    }

    /// Starts from the default state.
    pub fn given_no_events() -> Self {
        Self::given(std::iter::empty())
    }
}

impl<A: Aggregate> AggregateTest<A> {
    /// Starts from `state` with `events` applied, in order.
    pub fn given_state(mut state: A, events: impl IntoIterator<Item = A::Event>) -> Self {
        for event in events {
            state.apply(&event);
        }
        Self { state }
    }

    /// Decides `command` against the state; accepted events are applied to it.
    pub fn when(mut self, command: A::Command) -> Then<A> {
        let mut events = Vec::new();
        let decided = self.state.decide(&command, &mut events);
        let result = match decided {
            Ok(()) => {
                for event in &events {
                    self.state.apply(event);
                }
                Ok(events)
            }
            Err(rejection) => Err(rejection),
        };
        Then {
            state: self.state,
            result,
        }
    }

    /// Decides `commands` one after another, as [`when`](Self::when) each;
    /// stops at the first rejection.
    pub fn when_all(self, commands: impl IntoIterator<Item = A::Command>) -> Then<A> {
        let mut then = Then {
            state: self.state,
            result: Ok(Vec::new()),
        };
        for command in commands {
            let Ok(before) = then.result else {
                break;
            };
            let next = AggregateTest { state: then.state }.when(command);
            then = Then {
                state: next.state,
                result: next.result.map(|events| [before, events].concat()),
            };
        }
        then
    }
}

/// What deciding a command did: its events (applied to the state) or its
/// rejection.
pub struct Then<A: Aggregate> {
    state: A,
    result: Result<Vec<A::Event>, A::Rejection>,
}

impl<A: Aggregate> Then<A> {
    /// The command's events, or its rejection.
    pub fn result(&self) -> Result<&[A::Event], &A::Rejection> {
        self.result.as_deref()
    }

    /// The state after the command (unchanged if it was rejected).
    pub fn state(&self) -> &A {
        &self.state
    }

    /// The state, the result dropped.
    pub fn into_state(self) -> A {
        self.state
    }
}

impl<A: Aggregate> Then<A>
where
    A::Event: fmt::Debug + PartialEq,
    A::Rejection: fmt::Debug + PartialEq,
{
    /// Asserts that the command was accepted with exactly `expected`.
    ///
    /// # Panics
    ///
    /// If it was rejected, or produced other events.
    #[track_caller]
    pub fn then_expect_events(self, expected: impl IntoIterator<Item = A::Event>) -> Self {
        let expected: Vec<A::Event> = expected.into_iter().collect();
        match &self.result {
            Ok(events) => assert_eq!(events, &expected, "the command's events"),
            Err(rejection) => {
                panic!("expected events {expected:?}, the command was rejected: {rejection:?}")
            }
        }
        self
    }

    /// Asserts that the command was rejected with `expected`.
    ///
    /// # Panics
    ///
    /// If it was accepted, or rejected for another reason.
    #[track_caller]
    pub fn then_expect_rejection(self, expected: A::Rejection) -> Self {
        match &self.result {
            Ok(events) => {
                panic!("expected rejection {expected:?}, the command was accepted with {events:?}")
            }
            Err(rejection) => assert_eq!(rejection, &expected, "the command's rejection"),
        }
        self
    }
}

impl<A: Aggregate> fmt::Debug for Then<A>
where
    A::Event: fmt::Debug,
    A::Rejection: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Then")
            .field("result", &self.result)
            .finish_non_exhaustive()
    }
}
