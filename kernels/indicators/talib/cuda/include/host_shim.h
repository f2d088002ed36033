// Put in front of column.cuh and a group source to compile them with g++ for the host: the
// kernel body then runs once per column on the CPU (tests/kernels/indicators/talib/cuda/cuda_host.py). Nothing
// here is used on the GPU.
#define RQ_HOST 1
#include <cmath>
#include <cstdlib>
#include <limits>
using std::sqrt; using std::fabs; using std::floor; using std::ceil; using std::log; using std::exp;
using std::sin; using std::cos; using std::tan; using std::atan; using std::pow; using std::log10;
#define RQ_DEV static inline
#define RQ_METHOD inline
#define RQ_NAN (std::numeric_limits<double>::quiet_NaN())
#define RQ_INF (std::numeric_limits<double>::infinity())
#define RQ_TRAP() std::abort()
#define RQ_ATOMIC_MAX(p, v) do { if (*(p) < (v)) *(p) = (v); } while (0)
