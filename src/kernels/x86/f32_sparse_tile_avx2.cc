#include "../sparse_tile.h"

namespace hilsim::kernels {
SparseTileFn sparse_tile_avx2(int fb) { return detail::sparse_tile_for(fb); }
}  // namespace hilsim::kernels
