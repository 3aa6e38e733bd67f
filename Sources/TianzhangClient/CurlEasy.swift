import CCurl
import CCurlShim
import Foundation
import TianzhangSync

/// One HTTP request as libcurl should send it: a POST (protocol messages), a PUT (attachment chunks)
/// or a GET (attachment status).
struct CurlRequest: Sendable {
    enum Method: String, Sendable { case post = "POST", put = "PUT", get = "GET" }
    var method = Method.post
    var url: String
    var headers: [String]
    var body: Data
    var options: SyncClient.Options
    /// The largest answer accepted (bytes, once inflated).
    var maxAnswerBytes = 64 * 1024 * 1024
}

/// What `curl_easy_perform` gave back: an HTTP answer (any status), or a libcurl failure.
enum CurlOutcome: Sendable {
    case answer(status: Int, body: Data)
    /// `code` is the CURLcode; `detail` the error buffer's text (or curl_easy_strerror's).
    case failure(code: UInt32, detail: String)
}

/// Set from any thread (task cancellation), read by libcurl's progress callback, which then aborts.
final class CancelFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// A libcurl easy handle, used only on its own serial queue (never on Swift's cooperative pool, since
/// `curl_easy_perform` blocks). Reusing the handle keeps the connection (and the TLS session) alive
/// between the small requests of one sync.
final class CurlEasy: @unchecked Sendable {
    /// Every use of `handle` happens on this queue.
    let queue = DispatchQueue(label: "tianzhang.sync-client.curl")
    private let handle: UnsafeMutableRawPointer?

    init() {
        handle = tz_curl_global_init_once() == CURLE_OK ? curl_easy_init() : nil
    }

    deinit { if let handle { curl_easy_cleanup(handle) } }

    /// Runs the request on `queue` and resumes the caller with its outcome; cancelling the task aborts
    /// the transfer at libcurl's next progress tick.
    func perform(_ request: CurlRequest) async -> CurlOutcome {
        let flag = CancelFlag()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                queue.async { continuation.resume(returning: self.performBlocking(request, cancelled: flag)) }
            }
        } onCancel: {
            flag.set()
        }
    }

    /// The answer's bytes as they arrive, capped.
    final class Sink {
        var data = Data()
        let limit: Int
        var overflowed = false
        let cancelled: CancelFlag
        init(limit: Int, cancelled: CancelFlag) {
            self.limit = limit
            self.cancelled = cancelled
        }
    }

    /// Blocks: only call on `queue`.
    private func performBlocking(_ request: CurlRequest, cancelled: CancelFlag) -> CurlOutcome {
        guard let handle else { return .failure(code: CURLE_FAILED_INIT.rawValue, detail: "libcurl could not be initialised") }
        curl_easy_reset(handle)
        let sink = Sink(limit: request.maxAnswerBytes, cancelled: cancelled)
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        var headers: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(headers) }
        for header in request.headers { headers = curl_slist_append(headers, header) }
        let options = request.options

        let code: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { errors in
            withExtendedLifetime(sink) {
                var setup = [CURLcode]()
                setup.append(tz_curl_setopt_string(handle, CURLOPT_URL, request.url))
                setup.append(tz_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"))
                setup.append(tz_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errors.baseAddress))
                setup.append(tz_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
                // Protocol v1 is HTTP/1.1 (SPEC §3), over TLS too.
                setup.append(tz_curl_setopt_long(handle, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1))
                if request.method == .get {
                    setup.append(tz_curl_setopt_long(handle, CURLOPT_HTTPGET, 1))
                } else {
                    // A PUT sends its body the same way, under its own method name.
                    setup.append(tz_curl_setopt_long(handle, CURLOPT_POST, 1))
                    setup.append(tz_curl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count)))
                    setup.append(request.body.withUnsafeBytes { tz_curl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: $0.baseAddress)) })
                    if request.method == .put { setup.append(tz_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, "PUT")) }
                }
                setup.append(tz_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headers))
                // libcurl asks for gzip answers and inflates them itself.
                setup.append(tz_curl_setopt_string(handle, CURLOPT_ACCEPT_ENCODING, "gzip"))
                setup.append(tz_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(options.connectTimeout * 1000)))
                setup.append(tz_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(options.totalTimeout * 1000)))
                setup.append(tz_curl_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, options.lowSpeedLimit))
                setup.append(tz_curl_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, options.lowSpeedTime))
                setup.append(tz_curl_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1))
                setup.append(tz_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1))
                setup.append(tz_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2))
                if let pem = options.pinnedCertificateAuthority {
                    // Only the county's CA: no system bundle, no CA directory.
                    setup.append(tz_curl_setopt_string(handle, CURLOPT_CAINFO, nil))
                    setup.append(tz_curl_setopt_string(handle, CURLOPT_CAPATH, nil))
                    setup.append(pem.withUnsafeBytes { tz_curl_setopt_blob(handle, CURLOPT_CAINFO_BLOB, $0.baseAddress!, $0.count) })
                }
                let context = Unmanaged.passUnretained(sink).toOpaque()
                setup.append(tz_curl_setopt_write_callback(handle) { data, size, count, context in
                    let sink = Unmanaged<Sink>.fromUnretainedValue(context!)
                    let bytes = size * count
                    guard sink.data.count + bytes <= sink.limit else {
                        sink.overflowed = true
                        return 0  // libcurl stops with CURLE_WRITE_ERROR
                    }
                    sink.data.append(UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self), count: bytes)
                    return bytes
                })
                setup.append(tz_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context))
                setup.append(tz_curl_setopt_xferinfo_callback(handle) { context, _, _, _, _ in
                    Unmanaged<Sink>.fromUnretainedValue(context!).cancelled.isSet ? 1 : 0
                })
                setup.append(tz_curl_setopt_pointer(handle, CURLOPT_XFERINFODATA, context))
                if let failed = setup.first(where: { $0 != CURLE_OK }) { return failed }
                return curl_easy_perform(handle)
            }
        }
        guard code == CURLE_OK else {
            if sink.overflowed { return .failure(code: code.rawValue, detail: "the answer is larger than \(request.maxAnswerBytes) bytes") }
            if code == CURLE_ABORTED_BY_CALLBACK && cancelled.isSet { return .failure(code: code.rawValue, detail: "cancelled") }
            let text = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return .failure(code: code.rawValue, detail: text.isEmpty ? String(cString: curl_easy_strerror(code)) : text)
        }
        var status = 0
        _ = tz_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return .answer(status: status, body: sink.data)
    }
}

extension Unmanaged where Instance == CurlEasy.Sink {
    /// The sink behind a callback's context pointer (kept alive by `performBlocking`).
    static func fromUnretainedValue(_ pointer: UnsafeMutableRawPointer) -> CurlEasy.Sink {
        Unmanaged.fromOpaque(pointer).takeUnretainedValue()
    }
}
