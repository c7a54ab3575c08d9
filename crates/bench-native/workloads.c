/*
 * The eleven Foundation workloads in plain C: the same algorithms as the BPF programs
 * (the .s files of crates/vm/benches/workloads) and the Rust versions (workloads/mod.rs), written as one
 * would write them in C. Compiled with `gcc -O2` by build.rs: the "ratio to gcc -O2 native"
 * baseline of issue 5. Every function takes the workload's memory region and its length and
 * returns what r0 must be; the bench checks each against the Rust version before timing.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Loop bounds the compiler must not see as constants (the Rust versions use black_box): an
 * external, writable global is loaded at run time. */
uint64_t waggle_c_fib_n = 90;
uint32_t waggle_c_prime_n = 1000;

uint64_t waggle_c_call_overhead(uint8_t *mem, size_t len)
{
	(void)mem;
	(void)len;
	return 0;
}

uint64_t waggle_c_fibonacci(uint8_t *mem, size_t len)
{
	(void)mem;
	(void)len;
	uint64_t n = waggle_c_fib_n, a = 0, b = 1;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t t = a + b;
		a = b;
		b = t;
	}
	return a;
}

static uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v); /* little-endian host, unaligned-safe */
	return v;
}

static uint64_t ilog2_branchy(uint64_t v)
{
	uint64_t r = 0;
	if (v >= (1ull << 32)) { v >>= 32; r += 32; }
	if (v >= (1ull << 16)) { v >>= 16; r += 16; }
	if (v >= (1ull << 8)) { v >>= 8; r += 8; }
	if (v >= (1ull << 4)) { v >>= 4; r += 4; }
	if (v >= (1ull << 2)) { v >>= 2; r += 2; }
	if (v >= (1ull << 1)) { r += 1; }
	return r;
}

uint64_t waggle_c_log2(uint8_t *mem, size_t len)
{
	(void)len;
	uint64_t sum = 0;
	for (size_t i = 0; i < 256; i++)
		sum += ilog2_branchy(load64(mem + 8 * i));
	return sum;
}

static uint64_t popcount_swar(uint64_t x)
{
	x = x - ((x >> 1) & 0x5555555555555555ull);
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (x * 0x0101010101010101ull) >> 56;
}

uint64_t waggle_c_popcount(uint8_t *mem, size_t len)
{
	(void)len;
	uint64_t sum = 0;
	for (size_t i = 0; i < 256; i++)
		sum += popcount_swar(load64(mem + 8 * i));
	return sum;
}

/* Case K of switch64 (see switch_case in workloads/mod.rs): one of eight shapes. */
static inline uint64_t switch_case(uint64_t k, uint64_t acc, uint64_t b)
{
	uint64_t c = k * 7919 + 13;
	uint64_t s = k % 29 + 1;
	switch (k % 8) {
	case 0: return acc + b * c;
	case 1: return acc ^ (b << s);
	case 2: return acc - (b + c);
	case 3: return acc * 3 + (b ^ c);
	case 4: return (acc >> s) ^ (acc + b);
	case 5: return acc + (b | c);
	case 6: return (acc + (b & c)) ^ k;
	default: return acc + (uint64_t)((uint32_t)b * (uint32_t)c);
	}
}

#define CASE(k) case k: acc = switch_case(k, acc, b); break;
#define CASE8(k) CASE(k) CASE(k + 1) CASE(k + 2) CASE(k + 3) \
	CASE(k + 4) CASE(k + 5) CASE(k + 6) CASE(k + 7)

uint64_t waggle_c_switch64(uint8_t *mem, size_t len)
{
	(void)len;
	uint64_t acc = 0;
	for (size_t i = 0; i < 256; i++) {
		uint64_t b = mem[i];
		switch (b & 63) {
		CASE8(0) CASE8(8) CASE8(16) CASE8(24) CASE8(32) CASE8(40) CASE8(48) CASE8(56)
		}
	}
	return acc;
}

uint64_t waggle_c_linear_search(uint8_t *mem, size_t len)
{
	(void)len;
	uint32_t key, v;
	memcpy(&key, mem + 1024, sizeof key);
	for (size_t i = 0; i < 256; i++) {
		memcpy(&v, mem + 4 * i, sizeof v);
		if (v == key)
			return i;
	}
	return 256;
}

uint64_t waggle_c_prime(uint8_t *mem, size_t len)
{
	(void)mem;
	(void)len;
	uint32_t n_max = waggle_c_prime_n;
	uint64_t count = 0;
	for (uint32_t n = 2; n < n_max; n++) {
		int is_prime = 1;
		for (uint32_t d = 2; d * d <= n; d++) {
			if (n % d == 0) {
				is_prime = 0;
				break;
			}
		}
		count += is_prime;
	}
	return count;
}

uint64_t waggle_c_checksum(uint8_t *mem, size_t len)
{
	(void)len;
	uint64_t sum = 0;
	for (size_t i = 0; i < 1024; i += 2)
		sum += (uint64_t)mem[i] | (uint64_t)mem[i + 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

uint64_t waggle_c_memcpy(uint8_t *mem, size_t len)
{
	(void)len;
	uint8_t *src = mem, *dst = mem + 1024;
	for (size_t i = 0; i < 1024; i++)
		dst[i] = src[i];
	return dst[1023];
}

uint64_t waggle_c_strcmp(uint8_t *mem, size_t len)
{
	(void)len;
	const uint8_t *s1 = mem, *s2 = mem + 1024;
	for (size_t i = 0;; i++) {
		uint8_t c1 = s1[i], c2 = s2[i];
		if (c1 != c2)
			return (uint64_t)c1 - (uint64_t)c2;
		if (c1 == 0)
			return 0;
	}
}

/* The helper helper_calls calls (r0 = r1 + 1), out of line and through a pointer the
 * compiler cannot see through, as a runtime's helper table would be. */
__attribute__((noinline)) uint64_t waggle_c_helper_inc(uint64_t r1, uint64_t r2, uint64_t r3,
						       uint64_t r4, uint64_t r5)
{
	(void)r2;
	(void)r3;
	(void)r4;
	(void)r5;
	return r1 + 1;
}

uint64_t (*volatile waggle_c_helper)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) =
	waggle_c_helper_inc;

uint64_t waggle_c_helper_calls(uint8_t *mem, size_t len)
{
	(void)mem;
	(void)len;
	uint64_t (*helper)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) = waggle_c_helper;
	uint64_t r1 = 0;
	for (int i = 0; i < 256; i++)
		r1 = helper(r1, 0, 0, 0, 0);
	return r1;
}
