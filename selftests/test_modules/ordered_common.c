#include "../../common/lockfix_klp.c"
