// The client runs the sync session of the core (`SyncSession`, its report, progress and transport
// errors); importing the client brings those types too.
@_exported import TianzhangSync
