// OpenBLAS sgemm/sgemv wrappers: the only place that imports COpenBLAS.
import COpenBLAS

public enum BLAS {
    /// Sets the number of threads OpenBLAS, and with it every kernel of this module, uses for every later call.
    public static func setThreads(_ n: Int) {
        openblas_set_num_threads(Int32(max(1, min(n, Int(Int32.max)))))
    }
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// Row-major C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta * C.
    @inline(__always)
    public static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                             alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }

    /// Row-major y[m] = alpha * A[m, n] x + beta * y (or A^T x when `trans`).
    @inline(__always)
    public static func sgemv(trans: Bool = false, m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                             x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>) {
        cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, blasint(m), blasint(n), alpha, a, blasint(lda),
                    x, 1, beta, y, 1)
    }
}
