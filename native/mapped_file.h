// Read-only memory maps of weight files, handed to JS as external ArrayBuffers (unmapped when
// the last view is collected), so weights are used in place rather than copied.
#pragma once
#include "napi_all.h"

namespace kiln {
Napi::Value MapFile(const Napi::CallbackInfo& info);
}
