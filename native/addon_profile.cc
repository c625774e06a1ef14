// N-API surface of the op profile (cpu/op_profile.h): opProfile() -> {enabled, decode, prefill},
// each {steps, ops: {<op>: {us_per_step, nodes_per_step}}}, and clears it.
#include "napi_all.h"

#include "cpu/op_profile.h"

namespace kiln {

static Napi::Object profile_table(Napi::Env env, const OpProfile& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("steps", (double)t.steps);
  Napi::Object ops = Napi::Object::New(env);
  for (int i = 0; i < kOpCount; i++) {
    if (!t.nodes[i] || !t.steps) continue;
    Napi::Object e = Napi::Object::New(env);
    e.Set("us_per_step", (double)t.ns[i] / 1e3 / (double)t.steps);
    e.Set("nodes_per_step", (double)t.nodes[i] / (double)t.steps);
    ops.Set(op_info((Op)i).name, e);
  }
  o.Set("ops", ops);
  return o;
}

static Napi::Value OpProfileValue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  OpProfile decode, prefill;
  op_profile_take(&decode, &prefill);
  Napi::Object o = Napi::Object::New(env);
  o.Set("enabled", op_profile_enabled());
  o.Set("decode", profile_table(env, decode));
  o.Set("prefill", profile_table(env, prefill));
  return o;
}

void add_profile_exports(Napi::Env env, Napi::Object exports) {
  exports.Set("opProfile", Napi::Function::New(env, OpProfileValue));
}

}  // namespace kiln
