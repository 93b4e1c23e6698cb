/* Force-included (-include) when compiling mlx-c with Debian 12's gcc 12 on x86_64.
 *
 * 1. mlx-c's private/io.h calls std::format, which libstdc++ 12 lacks: map it onto
 *    {fmt} (header-only, Debian libfmt-dev). We must stay on libstdc++ because
 *    libmlx.so is built against it and mlx-c passes std types across that boundary.
 * 2. mlx-c's half.h only defines float16_t / bfloat16_t on aarch64, but mlx-rs always
 *    calls the float16/bfloat16 item accessors. Provide them from MLX's own types.
 */
#pragma once
#ifdef __cplusplus
#include <fmt/format.h>
namespace std {
using fmt::format;
}
#include "mlx/types/half_types.h"
#define HAS_FLOAT16 1
#define HAS_BFLOAT16 1
typedef mlx::core::float16_t float16_t;
typedef mlx::core::bfloat16_t bfloat16_t;
#endif
