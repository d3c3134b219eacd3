#include "common/ctr.h"

const char *const sl_ctr_names[SL_CTR__COUNT] = {
#define SL_CTR_NAME(n) #n,
    SL_CTR_LIST(SL_CTR_NAME)
#undef SL_CTR_NAME
};
