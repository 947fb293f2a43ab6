/** The shared field error (ui.tsx), under the name the chatbot forms import it by. */
export { FieldError } from '../../ui.tsx'
