// JSON over HTTP for the remote backend: blocking calls on URLSession with a timeout, retries with exponential
// backoff on 429, 5xx, timeouts and refused connections, and a bounded pool of worker threads for many at once.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A request to the server that failed for good; names the endpoint and says what to check. The API key is never
/// part of a message.
public struct RemoteError: Error, CustomStringConvertible, Equatable {
    public let endpoint: String
    public let message: String
    /// The HTTP status, when the server answered.
    public let status: Int?
    /// The server stopped answering (no connection, timeouts, 429 or 5xx through every retry), as opposed to a
    /// request it refused: worth running again once the server is back.
    public let unreachable: Bool
    public init(endpoint: String, _ message: String, status: Int? = nil, unreachable: Bool = false) {
        self.endpoint = endpoint; self.message = message; self.status = status; self.unreachable = unreachable
    }
    public var description: String { "\(endpoint): \(message)" }
}

/// A value shared between threads behind a lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock(); defer { lock.unlock() }
        return try body(&value)
    }
}

/// How requests are sent and retried.
public struct HTTPSettings: Sendable {
    /// Seconds one request may take before it counts as timed out (and is retried).
    public var timeout: Double = 120
    /// Attempts after the first one, for 429, 5xx, timeouts and connection failures.
    public var retries: Int = 3
    /// Seconds before the first retry; doubled before each later one.
    public var backoff: Double = 0.5
    /// Requests in flight at once.
    public var concurrency: Int = 4
    public init(timeout: Double = 120, retries: Int = 3, backoff: Double = 0.5, concurrency: Int = 4) {
        self.timeout = timeout; self.retries = retries; self.backoff = backoff; self.concurrency = concurrency
    }
}

/// The work queue of `HTTPClient.parallel`: the next item to hand out, how many are done, results, the first error.
struct PoolState<T> {
    var next = 0, done = 0
    var results: [T?]
    var error: Error?
}

final class HTTPClient: Sendable {
    let base: URL
    let settings: HTTPSettings
    private let apiKey: String?
    private let session: URLSession

    init(base: URL, settings: HTTPSettings, apiKey: String?) {
        self.base = base; self.settings = settings; self.apiKey = apiKey
        let c = URLSessionConfiguration.ephemeral
        // A backstop only: `send` enforces the timeout itself (FoundationNetworking on Linux mishandles sub-second
        // timeouts, failing such requests at once).
        c.timeoutIntervalForRequest = settings.timeout.rounded(.up) + 5
        c.timeoutIntervalForResource = settings.timeout.rounded(.up) + 5
        c.httpMaximumConnectionsPerHost = max(settings.concurrency, 1)
        c.urlCache = nil
        session = URLSession(configuration: c)
    }

    deinit { session.finishTasksAndInvalidate() }

    /// The endpoint as messages name it: the URL of `path` without query or credentials.
    func name(_ path: String) -> String { base.appendingPathComponent(path).absoluteString }

    /// GET (body nil) or POST of a JSON object; the decoded JSON object of a 2xx answer. Retries transient
    /// failures; throws RemoteError after the last.
    func json(_ path: String, _ body: [String: Any]? = nil, retrying: Bool = true) throws -> [String: Any] {
        let url = base.appendingPathComponent(path)
        var request = URLRequest(url: url, timeoutInterval: settings.timeout.rounded(.up) + 5)
        request.httpMethod = body == nil ? "GET" : "POST"
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        if let apiKey { request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.httpBody = try JSONSerialization.data(withJSONObject: body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        var delay = settings.backoff
        var attempt = 0
        while true {
            let outcome = send(request)
            switch outcome {
            case .answer(let status, let data) where (200..<300).contains(status):
                guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                    throw RemoteError(endpoint: name(path), "the answer is not a JSON object: \(snippet(data))", status: status)
                }
                return object
            case .answer(let status, let data) where status == 429 || status >= 500:
                if attempt >= settings.retries || !retrying {
                    throw RemoteError(endpoint: name(path), "HTTP \(status): \(serverMessage(data)); gave up after \(attempt + 1) attempts",
                                      status: status, unreachable: true)
                }
            case .answer(let status, let data):
                let hint = status == 401 || status == 403 ? " (check the API key's environment variable)" : ""
                throw RemoteError(endpoint: name(path), "HTTP \(status): \(serverMessage(data))\(hint)", status: status)
            case .failure(let why):
                if attempt >= settings.retries || !retrying {
                    let hint = why.hasPrefix("timed out") ? "raise the timeout if the server is just slow" : "is the server running there?"
                    throw RemoteError(endpoint: name(path), "\(why); gave up after \(attempt + 1) attempts (\(hint))", unreachable: true)
                }
            }
            attempt += 1
            Thread.sleep(forTimeInterval: delay)
            delay *= 2
        }
    }

    private enum Outcome { case answer(Int, Data), failure(String) }

    /// One blocking round trip. URLSession calls back on its own queue; a semaphore hands the result over.
    private func send(_ request: URLRequest) -> Outcome {
        let result = Locked<Outcome?>(nil)
        let done = DispatchSemaphore(value: 0)
        let task = session.dataTask(with: request) { data, response, error in
            let outcome: Outcome
            if let error {
                let e = error as NSError
                outcome = .failure(e.code == NSURLErrorTimedOut ? "timed out after \(seconds(request.timeoutInterval))"
                                   : "no answer (\(e.localizedDescription))")
            } else if let http = response as? HTTPURLResponse {
                outcome = .answer(http.statusCode, data ?? Data())
            } else {
                outcome = .failure("no HTTP answer")
            }
            result.withLock { $0 = outcome }
            done.signal()
        }
        task.resume()
        if done.wait(timeout: .now() + settings.timeout) == .timedOut {
            task.cancel()
            return .failure("timed out after \(seconds(settings.timeout))")
        }
        return result.withLock { $0 }!
    }

    /// The server's own error message (OpenAI style {"error": {"message"}}, or {"detail"}, or the raw text).
    private func serverMessage(_ data: Data) -> String {
        if let o = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] {
            if let e = o["error"] as? [String: Any], let m = e["message"] as? String { return m }
            if let m = o["message"] as? String { return m }
            if let d = o["detail"] { return "\(d)" }
        }
        return snippet(data)
    }

    private func snippet(_ data: Data) -> String {
        let s = String(decoding: data.prefix(300), as: UTF8.self)
        return s.isEmpty ? "(empty body)" : s
    }

    /// Runs `work(i)` for i in 0..<count on up to `settings.concurrency` threads and returns the results in order.
    /// The first error stops the hand-out of new items and is rethrown once the running ones end. `progress(done)`
    /// is called on the calling thread as items finish.
    func parallel<T: Sendable>(_ count: Int, progress: ((Int) -> Void)? = nil,
                               _ work: @escaping @Sendable (Int) throws -> T) throws -> [T] {
        guard count > 0 else { return [] }
        let state = Locked(PoolState<T>(results: Array(repeating: nil, count: count)))
        let group = DispatchGroup()
        for _ in 0..<min(max(settings.concurrency, 1), count) {
            group.enter()
            let worker = Thread {
                defer { group.leave() }
                while true {
                    let i: Int? = state.withLock { s in
                        guard s.error == nil, s.next < count else { return nil }
                        s.next += 1
                        return s.next - 1
                    }
                    guard let i else { return }
                    do {
                        let r = try work(i)
                        state.withLock { $0.results[i] = r; $0.done += 1 }
                    } catch {
                        state.withLock { if $0.error == nil { $0.error = error } }
                    }
                }
            }
            worker.stackSize = 1 << 20
            worker.start()
        }
        var reported = 0
        while group.wait(timeout: .now() + 0.2) == .timedOut {
            let done = state.withLock { $0.done }
            if done != reported { reported = done; progress?(done) }
        }
        let final = state.withLock { $0 }
        if let e = final.error { throw e }
        if final.done != reported { progress?(final.done) }
        return final.results.map { $0! }
    }
}

/// "0.5 s", "120 s".
private func seconds(_ t: TimeInterval) -> String { String(format: "%g s", t) }
