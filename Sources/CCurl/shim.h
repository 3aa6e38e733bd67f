// libcurl's public headers, for Swift (the system package libcurl4-openssl-dev).
#ifndef TIANZHANG_CCURL_SHIM_H
#define TIANZHANG_CCURL_SHIM_H
#include <curl/curl.h>
#endif
