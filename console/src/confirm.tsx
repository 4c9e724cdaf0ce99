import { useEffect, useRef } from 'preact/hooks';

/** Deleting is final: the dialog names every bot it will delete, and Cancel has the focus. */
export function ConfirmDelete({
  ids,
  onConfirm,
  onCancel,
}: {
  ids: string[];
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    dialog.current?.showModal();
  }, []);
  const names = ids.length <= 5 ? ids.join(', ') : `${ids.slice(0, 5).join(', ')} and ${ids.length - 5} more`;
  return (
    <dialog ref={dialog} class="card" aria-labelledby="confirm-title" onClose={onCancel}>
      <h2 id="confirm-title">Delete {ids.length === 1 ? ids[0] : `${ids.length} bots`}?</h2>
      <p>
        This stops and deletes <strong>{names}</strong>: its workflow ends and its record goes. This cannot be undone.
      </p>
      <div class="dialog-buttons">
        <button type="button" autoFocus onClick={onCancel}>
          Cancel
        </button>
        <button type="button" class="danger" onClick={onConfirm}>
          Delete {ids.length === 1 ? ids[0] : `${ids.length} bots`}
        </button>
      </div>
    </dialog>
  );
}
