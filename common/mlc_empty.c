/* Placeholder translation unit for a directory that has no modules yet. */
typedef int mlc_empty_translation_unit;
