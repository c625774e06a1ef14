// napi.h for every translation unit of the addon, with NODE_ADDON_API_CPP_EXCEPTIONS_ALL: without it
// node-addon-api turns only Napi::Error into a JS exception, and any other C++ exception that
// reaches the N-API boundary (std::bad_alloc from a huge vector, std::system_error when a thread
// cannot start) calls std::terminate and aborts the process. With it, they become JS Errors.
// Every file must include napi.h this way (the wrappers are inline: one definition for all).
#pragma once
#define NODE_ADDON_API_CPP_EXCEPTIONS_ALL
#include <napi.h>
