// R calls R_init_wafermon when it loads the package; the routines themselves are registered
// by the Rust static library (R_init_wafermon_extendr, made by extendr_module!). Calling it
// from here also keeps the linker from dropping the library.

void R_init_wafermon_extendr(void *dll);

void R_init_wafermon(void *dll) {
    R_init_wafermon_extendr(dll);
}
