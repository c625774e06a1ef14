// The decode (few rows) driver of the f32/f16/bf16 matmul, written once for matmul_avx2.cc and
// matmul_avx512.cc: each includes it inside its own namespace, after its tile_full, Prefetch,
// elem_size and stream constants (kStreamCols, kLinearMax, kRowAhead, prefetch_narrow()), with KILN_STREAM_TARGET set to its target attribute. Weight rows
// go kStreamCols at a time, each streamed from memory once and prefetched ahead.
// (No include guard: every including file compiles its own copy.)

// R (≤ 3) rows of x against weight rows [ms, me), each group of kStreamCols rows streamed once.
template <DType DT, int R>
KILN_STREAM_TARGET void stream_rows(float* out, const float* x, const void* w, const float* bias, int64_t K, int64_t M,
                           int64_t ms, int64_t me) {
  const char* wb = (const char*)w;
  const int64_t row = K * elem_size<DT>();
  int64_t m = ms;
  for (; m + kStreamCols <= me; m += kStreamCols) {
    const void* wr[kStreamCols];
    KILN_UNROLL
    for (int c = 0; c < kStreamCols; c++) wr[c] = wb + (m + c) * row;
    Prefetch pf;
    if (elem_size<DT>() < 4 && !prefetch_narrow())
      ;  // the hardware prefetchers alone (see prefetch_narrow)
    else if (kStreamCols * row > kLinearMax)
      pf.row_ahead = kRowAhead;
    else if (m + 2 * kStreamCols <= me)
      pf.linear = wb + (m + kStreamCols) * row;
    tile_full<DT, R, kStreamCols, true>(x, K, wr, bias, out, M, m, pf);
  }
  for (; m < me; m++) {
    const void* wr[1] = {wb + m * row};
    tile_full<DT, R, 1, false>(x, K, wr, bias, out, M, m);
  }
}

// Few rows (decode): memory bound, so every weight byte is read once, converted on the fly.
template <DType DT>
KILN_STREAM_TARGET void matmul_stream(float* out, const float* x, const void* w, const float* bias, int64_t N, int64_t K,
                             int64_t M, int64_t ms, int64_t me) {
  int64_t n = 0;
  for (; n + 3 <= N; n += 3) stream_rows<DT, 3>(out + n * M, x + n * K, w, bias, K, M, ms, me);
  if (N - n == 2) stream_rows<DT, 2>(out + n * M, x + n * K, w, bias, K, M, ms, me);
  if (N - n == 1) stream_rows<DT, 1>(out + n * M, x + n * K, w, bias, K, M, ms, me);
}
