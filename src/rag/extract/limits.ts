/** Limits of the format readers, in a module of their own so that naming them does not load the readers. */

/** Past this the file is refused up front: pdf.js would otherwise extract every page before we could stop it. */
export const MAX_PDF_PAGES = 2000

/**
 * Workbooks (all sheets together) and CSV files above this many cells are refused: rendering walks every cell of
 * each sheet's used range, so one stray cell at XFD1048576 would otherwise mean billions of iterations.
 */
export const MAX_CELLS = 1_000_000
