// Ctrl-C and SIGTERM during a run: the run is marked interrupted in the store before the process exits.
import Foundation
import Store

/// Marks the run interrupted on SIGINT/SIGTERM (on a connection of its own) and exits 130/143.
/// SIGKILL cannot be caught: the next command that opens the store sees the dead pid and marks the run then.
final class InterruptGuard {
    private var sources: [DispatchSourceSignal] = []
    init(runID: String, dbPath: String) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler {
                if let st = try? Store(path: dbPath) { try? st.markInterrupted(id: runID) }
                FileHandle.standardError.write(Data("auditor: interrupted; run \(runID) marked interrupted in \(dbPath)\n".utf8))
                exit(128 + sig)
            }
            s.resume()
            sources.append(s)
        }
    }
    func cancel() { sources.forEach { $0.cancel() }; signal(SIGINT, SIG_DFL); signal(SIGTERM, SIG_DFL) }
}
