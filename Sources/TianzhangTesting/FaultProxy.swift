import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A fault-injecting TCP proxy for weak-link tests: it forwards loopback connections to a target and
/// can add latency, cap bandwidth, cut connections after a number of bytes (mid-body), stall, or
/// refuse. Blocking sockets and one thread per direction keep it simple and exact.
public final class FaultProxy: @unchecked Sendable {
    public struct Faults: Sendable {
        /// Added before forwarding each chunk, in milliseconds (one way).
        public var latencyMilliseconds = 0
        /// Bytes per second in each direction; 0: unlimited.
        public var bandwidthBytesPerSecond = 0
        /// Cut a connection (both directions) once this many bytes have crossed it; 0: never.
        public var cutAfterBytes = 0
        /// Stop forwarding (but keep the connection open) once this many bytes have crossed; 0: never.
        public var stallAfterBytes = 0
        /// Refuse every new connection (accept, then close at once).
        public var refuse = false

        public init(latencyMilliseconds: Int = 0, bandwidthBytesPerSecond: Int = 0, cutAfterBytes: Int = 0, stallAfterBytes: Int = 0, refuse: Bool = false) {
            self.latencyMilliseconds = latencyMilliseconds
            self.bandwidthBytesPerSecond = bandwidthBytesPerSecond
            self.cutAfterBytes = cutAfterBytes
            self.stallAfterBytes = stallAfterBytes
            self.refuse = refuse
        }
    }

    public let port: Int
    var targetPortValue: Int
    let listener: Int32
    let lock = NSLock()
    var faultsValue: Faults
    var connectionsCut = 0
    var bytesForwarded = 0
    var open = true

    /// Listens on a free loopback port and forwards to `127.0.0.1:targetPort`.
    public init(targetPort: Int, faults: Faults = Faults()) throws {
        targetPortValue = targetPort
        faultsValue = faults
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Where new connections go (a restarted server may come back on another port).
    public var targetPort: Int {
        get { lock.withLock { targetPortValue } }
        set { lock.withLock { targetPortValue = newValue } }
    }

    public var faults: Faults {
        get { lock.withLock { faultsValue } }
        set { lock.withLock { faultsValue = newValue } }
    }

    /// Connections cut so far, and bytes forwarded (both directions).
    public var statistics: (cuts: Int, bytes: Int) { lock.withLock { (connectionsCut, bytesForwarded) } }

    /// Stops listening; safe to call more than once (the listener is closed once, so a later call
    /// cannot close a descriptor the process has since reused).
    public func stop() {
        let wasOpen = lock.withLock { defer { open = false }; return open }
        guard wasOpen else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    deinit { stop() }

    func acceptLoop() {
        while lock.withLock({ open }) {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            if faults.refuse {
                close(client)
                continue
            }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(targetPort).bigEndian
            let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard connected == 0 else {
                close(client)
                close(upstream)
                continue
            }
            let connection = Connection(client: client, upstream: upstream)
            Thread.detachNewThread { [self] in pump(from: client, to: upstream, connection) }
            Thread.detachNewThread { [self] in pump(from: upstream, to: client, connection) }
        }
    }

    /// One proxied connection: the byte count shared by both directions, and closing both sockets once.
    /// `close()` only shuts the sockets down (which wakes both pumps); the descriptors are released when
    /// both pumps have finished, so a pump never writes to a descriptor number the process has reused
    /// for another connection.
    final class Connection: @unchecked Sendable {
        let client: Int32, upstream: Int32
        let lock = NSLock()
        var bytes = 0
        var closed = false
        var pumpsFinished = 0
        init(client: Int32, upstream: Int32) {
            self.client = client
            self.upstream = upstream
        }

        var isClosed: Bool { lock.withLock { closed } }

        func add(_ count: Int) -> Int { lock.withLock { bytes += count; return bytes } }

        func close() {
            lock.withLock {
                guard !closed else { return }
                closed = true
                shutdown(client, Int32(SHUT_RDWR))
                shutdown(upstream, Int32(SHUT_RDWR))
            }
        }

        /// Called once by each pump as it ends; the second releases the descriptors.
        func finish() {
            close()
            lock.withLock {
                pumpsFinished += 1
                if pumpsFinished == 2 {
                    Glibc.close(client)
                    Glibc.close(upstream)
                }
            }
        }
    }

    func pump(from source: Int32, to destination: Int32, _ connection: Connection) {
        defer { connection.finish() }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let faults = self.faults
            let chunk = faults.bandwidthBytesPerSecond > 0 ? min(buffer.count, max(64, faults.bandwidthBytesPerSecond / 20)) : buffer.count
            let count = read(source, &buffer, chunk)
            guard count > 0 else { break }
            if faults.latencyMilliseconds > 0 { usleep(useconds_t(faults.latencyMilliseconds * 1000)) }
            if faults.bandwidthBytesPerSecond > 0 { usleep(useconds_t(Double(count) / Double(faults.bandwidthBytesPerSecond) * 1_000_000)) }
            let total = connection.add(count)
            if faults.cutAfterBytes > 0 && total > faults.cutAfterBytes {
                // Forward part of the chunk, then cut: the receiver sees a body that stops mid-way.
                let partial = max(0, count - (total - faults.cutAfterBytes))
                if partial > 0 { _ = buffer.withUnsafeBytes { send(destination, $0.baseAddress, partial, Int32(MSG_NOSIGNAL)) } }
                lock.withLock { connectionsCut += 1; bytesForwarded += partial }
                break
            }
            if faults.stallAfterBytes > 0 && total > faults.stallAfterBytes {
                while lock.withLock({ open }) && self.faults.stallAfterBytes > 0 && !connection.isClosed { usleep(50_000) }
            }
            var sent = 0
            while sent < count {
                let written = buffer.withUnsafeBytes { send(destination, $0.baseAddress! + sent, count - sent, Int32(MSG_NOSIGNAL)) }
                guard written > 0 else { return }
                sent += written
            }
            lock.withLock { bytesForwarded += count }
        }
    }
}
