/* Force-included when running bindgen over mlx-c's headers on x86_64, so the
 * generated bindings expose the same float16_t / bfloat16_t items as on aarch64
 * (mlx-rs uses mlx_sys::float16_t as a struct with a u16 and bfloat16_t as u16).
 * clang 14 maps __fp16 to bindgen's __BindgenFloat16(pub u16); _Float16 is rejected. */
#pragma once
#define HAS_FLOAT16 1
#define HAS_BFLOAT16 1
typedef __fp16 float16_t;
typedef unsigned short bfloat16_t;
