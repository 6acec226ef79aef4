#include "process_traits.hpp"

#include <ap_mpm.h>

namespace gantry::module {

ServerTraits embedded_traits() {
  ServerTraits traits;
  int threaded = AP_MPMQ_NOT_SUPPORTED;
  int max_threads = 1;
  if (ap_mpm_query(AP_MPMQ_IS_THREADED, &threaded) == APR_SUCCESS && threaded != AP_MPMQ_NOT_SUPPORTED) {
    ap_mpm_query(AP_MPMQ_MAX_THREADS, &max_threads);
    traits.multithread = max_threads > 1;
  }
  int forked = AP_MPMQ_NOT_SUPPORTED;
  int max_daemons = 1;
  if (ap_mpm_query(AP_MPMQ_IS_FORKED, &forked) == APR_SUCCESS && forked != AP_MPMQ_NOT_SUPPORTED) {
    ap_mpm_query(AP_MPMQ_MAX_DAEMONS, &max_daemons);
    traits.multiprocess = max_daemons > 1;
  } else {
    traits.multiprocess = false;
  }
  traits.run_once = false;
  return traits;
}

}  // namespace gantry::module
