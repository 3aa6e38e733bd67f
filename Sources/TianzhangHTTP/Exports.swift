// The servers speak the client's wire format (JSON, gzip, error envelopes); importing the server
// brings the client's types too.
@_exported import TianzhangClient
@_exported import TianzhangStore
