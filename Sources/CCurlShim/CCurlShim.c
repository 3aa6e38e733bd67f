#include "CCurlShim.h"
#include <pthread.h>

static pthread_once_t tz_curl_once = PTHREAD_ONCE_INIT;
static CURLcode tz_curl_init_result = CURLE_FAILED_INIT;

static void tz_curl_init(void) { tz_curl_init_result = curl_global_init(CURL_GLOBAL_ALL); }

CURLcode tz_curl_global_init_once(void) {
    pthread_once(&tz_curl_once, tz_curl_init);
    return tz_curl_init_result;
}

CURLcode tz_curl_setopt_long(CURL *handle, CURLoption option, long value) { return curl_easy_setopt(handle, option, value); }
CURLcode tz_curl_setopt_off(CURL *handle, CURLoption option, curl_off_t value) { return curl_easy_setopt(handle, option, value); }
CURLcode tz_curl_setopt_string(CURL *handle, CURLoption option, const char *value) { return curl_easy_setopt(handle, option, value); }
CURLcode tz_curl_setopt_pointer(CURL *handle, CURLoption option, void *value) { return curl_easy_setopt(handle, option, value); }
CURLcode tz_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *list) { return curl_easy_setopt(handle, option, list); }

CURLcode tz_curl_setopt_blob(CURL *handle, CURLoption option, const void *data, size_t length) {
    struct curl_blob blob;
    blob.data = (void *)data;
    blob.len = length;
    blob.flags = CURL_BLOB_COPY;
    return curl_easy_setopt(handle, option, &blob);
}

CURLcode tz_curl_setopt_write_callback(CURL *handle, tz_curl_data_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, callback);
}

CURLcode tz_curl_setopt_xferinfo_callback(CURL *handle, tz_curl_xferinfo_callback callback) {
    CURLcode code = curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, callback);
    return code != CURLE_OK ? code : curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
}

CURLcode tz_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) { return curl_easy_getinfo(handle, info, value); }
CURLcode tz_curl_getinfo_off(CURL *handle, CURLINFO info, curl_off_t *value) { return curl_easy_getinfo(handle, info, value); }
