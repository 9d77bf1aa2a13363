//! What the user brings to an engine: the state with its `decide` and `apply`, the
//! commands sent to it, and the projections that keep read models.

use crate::engine::metadata::Metadata;

/// The domain state a [`Engine`](crate::Engine) owns, with the two functions that
/// define it.
///
/// - [`decide`](Aggregate::decide) validates a command against the state and returns
///   its events or a rejection. It cannot mutate the state, so a rejection (or a
///   panic, which becomes a rejection) leaves it untouched.
/// - [`apply`](Aggregate::apply) is the only mutation. The engine calls it for each
///   event `decide` returned, and again for every journaled event when it replays the
///   journal on start, so it must depend on nothing but the state and the event.
///
/// # Examples
///
/// ```
/// use seqlane::Aggregate;
///
/// #[derive(Default)]
/// struct Account {
///     balance: u64,
/// }
///
/// enum Command {
///     Deposit(u64),
///     Withdraw(u64),
/// }
///
/// #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// enum Event {
///     Deposited(u64),
///     Withdrew(u64),
/// }
///
/// impl Aggregate for Account {
///     type Command = Command;
///     type Event = Event;
///     type Rejection = String;
///
///     fn decide(&self, command: &Command, events: &mut Vec<Event>) -> Result<(), String> {
///         match *command {
///             Command::Deposit(amount) => events.push(Event::Deposited(amount)),
///             Command::Withdraw(amount) if amount > self.balance => {
///                 return Err(format!("balance {} is below {amount}", self.balance));
///             }
///             Command::Withdraw(amount) => events.push(Event::Withdrew(amount)),
///         }
///         Ok(())
///     }
///
///     fn apply(&mut self, event: &Event) {
///         match *event {
///             Event::Deposited(amount) => self.balance += amount,
///             Event::Withdrew(amount) => self.balance -= amount,
///         }
///     }
/// }
///
/// let mut account = Account::default();
/// let mut events = Vec::new();
/// assert!(account.decide(&Command::Withdraw(5), &mut events).is_err());
/// account.decide(&Command::Deposit(5), &mut events).unwrap();
/// events.iter().for_each(|event| account.apply(event));
/// assert_eq!(account.balance, 5);
/// ```
pub trait Aggregate: Send + 'static {
    /// What callers ask for.
    type Command: Send + Sync + 'static;
    /// What happened: journaled (encoded with the engine's
    /// [`Codec`](seqlane_journal::Codec)), applied to the state, fed to projections.
    type Event: Clone + Send + Sync + 'static;
    /// Why `decide` refused a command.
    type Rejection: Send + 'static;

    /// Decides what `command` does to the state: pushes its events into `events` (a
    /// buffer the engine reuses, empty on entry, so deciding allocates nothing) and
    /// returns `Ok`, or returns a rejection (any events pushed are discarded).
    ///
    /// # Errors
    ///
    /// The domain's reason to refuse the command.
    fn decide(
        &self,
        command: &Self::Command,
        events: &mut Vec<Self::Event>,
    ) -> Result<(), Self::Rejection>;

    /// Applies one event to the state. Must not fail: an event is a fact. A panic
    /// here stops the engine (the state may be half-changed), with an error that
    /// says so.
    fn apply(&mut self, event: &Self::Event);

    /// A rejection as bytes (typically a serde encoding), journaled with the id of
    /// the command it refused, so that a resubmission of that id gets the same
    /// rejection, across restarts too, and the command does not run again. `None`
    /// (the default): rejections are not remembered, and a resubmitted id is decided
    /// anew. Only `decide`'s own rejections are remembered; a version conflict, a
    /// panic or an unrecordable command leaves its id free.
    ///
    /// ```
    /// # use seqlane::Aggregate;
    /// # struct Stock;
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// enum Refusal { OutOfStock { left: u32 } }
    ///
    /// impl Aggregate for Stock {
    ///     # type Command = u32;
    ///     # type Event = u32;
    ///     type Rejection = Refusal;
    ///     # fn decide(&self, _: &u32, _: &mut Vec<u32>) -> Result<(), Refusal> { Ok(()) }
    ///     # fn apply(&mut self, _: &u32) {}
    ///     // ...
    ///     fn encode_rejection(reason: &Refusal) -> Option<Vec<u8>> {
    ///         postcard::to_stdvec(reason).ok()
    ///     }
    ///
    ///     fn decode_rejection(bytes: &[u8]) -> Result<Refusal, String> {
    ///         postcard::from_bytes(bytes).map_err(|error| error.to_string())
    ///     }
    /// }
    /// ```
    fn encode_rejection(reason: &Self::Rejection) -> Option<Vec<u8>> {
        let _ = reason;
        None
    }

    /// The rejection from [`encode_rejection`](Aggregate::encode_rejection)'s
    /// bytes, for a resubmitted id.
    ///
    /// # Errors
    ///
    /// When the bytes are not a rejection of this type (an older encoding, say):
    /// the resubmission then gets [`Rejection::Undecodable`](crate::Rejection)
    /// with this message, and still does not run again.
    fn decode_rejection(bytes: &[u8]) -> Result<Self::Rejection, String> {
        let _ = bytes;
        Err("this aggregate does not decode rejections".into())
    }

    /// The version a command's [expected version](Command::expect_version) is checked
    /// against: the version of the entity the command targets, if the domain tracks
    /// one. `None` (the default) checks against the engine's version, the number of
    /// events applied to the whole state.
    fn version_of(&self, command: &Self::Command) -> Option<u64> {
        let _ = command;
        None
    }

    /// The version of [`snapshot`](Aggregate::snapshot)'s encoding, saved with
    /// each snapshot. Change it whenever the state's encoding changes: a start
    /// then skips snapshots of another version (listed in
    /// [`Recovery::skipped_snapshots`](crate::Recovery)) and rebuilds the state
    /// from the journal, which snapshots never replace.
    const SNAPSHOT_VERSION: u32 = 1;

    /// The state as bytes, for a snapshot (with [`restore`](Aggregate::restore),
    /// typically a serde encoding). `None` (the default): this state is not
    /// snapshotted, and the engine replays the whole journal on start.
    fn snapshot(&self) -> Option<Vec<u8>> {
        None
    }

    /// The state from [`snapshot`](Aggregate::snapshot)'s bytes.
    ///
    /// # Errors
    ///
    /// When the bytes are not a snapshot of this state (the default refuses all).
    fn restore(bytes: &[u8]) -> Result<Self, String>
    where
        Self: Sized,
    {
        let _ = bytes;
        Err("this state does not restore from snapshots".into())
    }
}

/// A read model kept up to date from the journaled events, on its own consumer.
///
/// The engine calls [`apply`](Projection::apply) for each event, in journal order,
/// only once the journal holds it; after each batch it publishes
/// [`view`](Projection::view) so that queries from any thread get a consistent
/// snapshot without blocking the projection. Make `View` cheap to produce (an `Arc`
/// of immutable parts, a persistent map, a small summary): it is built once per
/// batch, not per event.
pub trait Projection<E>: Send + 'static {
    /// What queries see.
    type View: Send + Sync + 'static;

    /// Applies one event, journaled at `sequence`.
    fn apply(&mut self, event: &E, sequence: u64);

    /// Applies one event with its command's metadata, if the command carried any
    /// (at run time and on replay). The default ignores the metadata and calls
    /// [`apply`](Projection::apply); an audit log or a "last changed by" view
    /// overrides it.
    fn apply_with_metadata(&mut self, event: &E, sequence: u64, metadata: Option<&Metadata>) {
        let _ = metadata;
        self.apply(event, sequence);
    }

    /// A snapshot of the read model as it stands, to publish.
    fn view(&self) -> Self::View;

    /// The version of [`snapshot`](Projection::snapshot)'s encoding, saved with
    /// its part of each snapshot. Change it whenever the encoding changes: a start
    /// then rebuilds this projection from the journal instead of restoring a part
    /// of another version (and says so in
    /// [`Recovery::skipped_snapshots`](crate::Recovery)).
    const SNAPSHOT_VERSION: u32 = 1;

    /// The projection's state as bytes, for an engine snapshot. `None` (the
    /// default): snapshots cannot be taken while this projection runs.
    fn snapshot(&self) -> Option<Vec<u8>> {
        None
    }

    /// Replaces the projection's state with [`snapshot`](Projection::snapshot)'s
    /// bytes.
    ///
    /// # Errors
    ///
    /// When the bytes are not a snapshot of this projection (the default refuses
    /// all).
    fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        let _ = bytes;
        Err("this projection does not restore from snapshots".into())
    }
}

/// A client-chosen command id: a resubmitted id gets the original outcome instead of
/// running twice, across restarts too (the id is journaled with the command's
/// events, or with its rejection when the aggregate
/// [encodes rejections](Aggregate::encode_rejection)). Use a UUID, or any `u128`
/// unique per intended effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(pub u128);

/// A command with its options: an optional [`CommandId`], an optional expected
/// version and optional [`Metadata`]. A bare command converts into one with none.
///
/// # Examples
///
/// ```
/// use seqlane::{Command, CommandId};
///
/// let plain: Command<&str> = "rename".into();
/// assert_eq!(plain.id(), None);
/// let careful = Command::new("rename").with_id(CommandId(42)).expect_version(3);
/// assert_eq!(careful.id(), Some(CommandId(42)));
/// assert_eq!(careful.expected_version(), Some(3));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command<C> {
    pub(crate) body: C,
    pub(crate) id: Option<CommandId>,
    pub(crate) expected_version: Option<u64>,
    /// Shared, so the logic hands it to each of the command's events without a copy.
    pub(crate) metadata: Option<std::sync::Arc<Metadata>>,
}

impl<C> Command<C> {
    /// The command with no id, no version check and no metadata.
    pub fn new(body: C) -> Self {
        Self {
            body,
            id: None,
            expected_version: None,
            metadata: None,
        }
    }

    /// Gives the command metadata, journaled with it and given to the projections
    /// (see [`Metadata`]).
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = Some(std::sync::Arc::new(metadata));
        self
    }

    /// The command's metadata, if it has any.
    pub fn metadata(&self) -> Option<&Metadata> {
        self.metadata.as_deref()
    }

    /// Makes the command idempotent under `id`.
    pub fn with_id(mut self, id: CommandId) -> Self {
        self.id = Some(id);
        self
    }

    /// Rejects the command with [`Rejection::Conflict`](crate::Rejection::Conflict)
    /// unless [`Aggregate::version_of`] (or the engine's version) is `version` when
    /// it is decided: optimistic concurrency.
    pub fn expect_version(mut self, version: u64) -> Self {
        self.expected_version = Some(version);
        self
    }

    /// The command's id, if it has one.
    pub fn id(&self) -> Option<CommandId> {
        self.id
    }

    /// The version it expects, if any.
    pub fn expected_version(&self) -> Option<u64> {
        self.expected_version
    }

    /// The command itself.
    pub fn body(&self) -> &C {
        &self.body
    }

    /// Gives the command itself back.
    pub fn into_body(self) -> C {
        self.body
    }
}

impl<C> From<C> for Command<C> {
    fn from(body: C) -> Self {
        Command::new(body)
    }
}
