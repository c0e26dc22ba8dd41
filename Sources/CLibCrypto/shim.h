// OpenSSL's libcrypto (Debian: libssl-dev), for SHA-256 and a constant-time comparison of API key hashes.
#include <openssl/evp.h>
#include <openssl/crypto.h>
