//! The services' messages, derived by hand with prost (what `protoc` and
//! prost-build would generate from the `.proto` in the comments).

/// `message FrameRequest { uint64 seq = 1; }`
#[derive(Clone, PartialEq, prost::Message)]
pub struct FrameRequest {
    /// The frame's sequence number, echoed back.
    #[prost(uint64, tag = "1")]
    pub seq: u64,
}

/// `message FrameReply { uint64 seq = 1; string tier = 2; }`
#[derive(Clone, PartialEq, prost::Message)]
pub struct FrameReply {
    /// The request's `seq`.
    #[prost(uint64, tag = "1")]
    pub seq: u64,
    /// The Echo tier the handler ran at (`"none"` off Echo).
    #[prost(string, tag = "2")]
    pub tier: String,
}

/// `message WorkRequest { uint64 seq = 1; uint32 micros = 2; }`
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkRequest {
    /// Echoed back.
    #[prost(uint64, tag = "1")]
    pub seq: u64,
    /// CPU time the handler burns before answering, in microseconds.
    #[prost(uint32, tag = "2")]
    pub micros: u32,
}

/// `message WorkReply { uint64 seq = 1; string tier = 2; }`
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkReply {
    /// The request's `seq`.
    #[prost(uint64, tag = "1")]
    pub seq: u64,
    /// The Echo tier the handler ran at.
    #[prost(string, tag = "2")]
    pub tier: String,
}

/// `message CountRequest { uint32 n = 1; uint32 pause_micros = 2; }`
#[derive(Clone, PartialEq, prost::Message)]
pub struct CountRequest {
    /// How many items to stream back (0 to n - 1).
    #[prost(uint32, tag = "1")]
    pub n: u32,
    /// A pause (an Echo timer) before each item, in microseconds.
    #[prost(uint32, tag = "2")]
    pub pause_micros: u32,
}

/// `message Item { uint64 value = 1; string tier = 2; }`
#[derive(Clone, PartialEq, prost::Message)]
pub struct Item {
    /// The payload.
    #[prost(uint64, tag = "1")]
    pub value: u64,
    /// In replies: the Echo tier the stream ran at.
    #[prost(string, tag = "2")]
    pub tier: String,
}

/// `message SumReply { uint64 total = 1; uint32 count = 2; string tier = 3; }`
#[derive(Clone, PartialEq, prost::Message)]
pub struct SumReply {
    /// The sum of the items' values.
    #[prost(uint64, tag = "1")]
    pub total: u64,
    /// How many items came.
    #[prost(uint32, tag = "2")]
    pub count: u32,
    /// The Echo tier the handler ran at.
    #[prost(string, tag = "3")]
    pub tier: String,
}
