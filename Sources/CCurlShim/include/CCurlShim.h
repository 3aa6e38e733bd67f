// Typed wrappers around libcurl's variadic calls. Swift cannot call C variadic functions such as
// curl_easy_setopt and curl_easy_getinfo, so each argument type gets one small C function here.
#ifndef TIANZHANG_CCURL_SHIM_PUBLIC_H
#define TIANZHANG_CCURL_SHIM_PUBLIC_H

#include <stddef.h>
#include <curl/curl.h>

#pragma clang assume_nonnull begin

/// Calls curl_global_init(CURL_GLOBAL_ALL) once per process (thread-safe); returns its result.
CURLcode tz_curl_global_init_once(void);

CURLcode tz_curl_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode tz_curl_setopt_off(CURL *handle, CURLoption option, curl_off_t value);
/// A string option; NULL resets it (e.g. CURLOPT_CAPATH to use no CA directory).
CURLcode tz_curl_setopt_string(CURL *handle, CURLoption option, const char *_Nullable value);
CURLcode tz_curl_setopt_pointer(CURL *handle, CURLoption option, void *_Nullable value);
CURLcode tz_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *_Nullable list);
/// A blob option (e.g. CURLOPT_CAINFO_BLOB); libcurl copies the bytes.
CURLcode tz_curl_setopt_blob(CURL *handle, CURLoption option, const void *data, size_t length);

typedef size_t (*tz_curl_data_callback)(char *data, size_t size, size_t count, void *_Nullable context);
/// CURLOPT_WRITEFUNCTION: receives the answer's body (context: CURLOPT_WRITEDATA).
CURLcode tz_curl_setopt_write_callback(CURL *handle, tz_curl_data_callback callback);

typedef int (*tz_curl_xferinfo_callback)(void *_Nullable context, curl_off_t download_total, curl_off_t download_now,
                                         curl_off_t upload_total, curl_off_t upload_now);
/// CURLOPT_XFERINFOFUNCTION (and CURLOPT_NOPROGRESS 0): a non-zero return aborts the transfer (cancellation).
CURLcode tz_curl_setopt_xferinfo_callback(CURL *handle, tz_curl_xferinfo_callback callback);

CURLcode tz_curl_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode tz_curl_getinfo_off(CURL *handle, CURLINFO info, curl_off_t *value);

#pragma clang assume_nonnull end

#endif
